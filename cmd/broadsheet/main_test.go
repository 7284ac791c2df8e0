package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
)

// TestMain lets a test run this package's binary as broadsheet itself
// (BROADSHEET_TEST_MAIN=1), to kill it for real.
func TestMain(m *testing.M) {
	if os.Getenv("BROADSHEET_TEST_MAIN") == "1" {
		os.Exit(mainStatus(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestServeStopsCleanlyOnSignal: Ctrl-C (SIGINT) or SIGTERM stops a real
// serve process, which exits 0 (so "make run" ends without an error).
func TestServeStopsCleanlyOnSignal(t *testing.T) {
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		addr := freeAddr(t)
		child := exec.Command(os.Args[0], "serve", "--listen", addr, "--schedule", "off")
		child.Env = append(os.Environ(), "BROADSHEET_TEST_MAIN=1", "BROADSHEET_DATA_DIR="+t.TempDir(),
			"BROADSHEET_REDIS_URL=redis://"+redistest.Start(t))
		var stderr syncBuffer
		child.Stderr = &stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				child.Process.Kill()
				t.Fatalf("serve not ready: %s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := child.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		if err := child.Wait(); err != nil {
			t.Errorf("%v: serve exited with %v:\n%s", sig, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "Shutting down") {
			t.Errorf("%v: no clean shutdown:\n%s", sig, stderr.String())
		}
	}
}
