package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv, when set, makes TestServerDiesWithTestProcess the child: it
// starts a server, prints where it is and waits to be killed.
const childEnv = "BROADSHEET_REDISTEST_CHILD"

const childMarker = "redistest-child-server"

// TestServerDiesWithTestProcess runs this test binary again as a child that
// starts a throwaway redis-server, SIGKILLs the child (so no Cleanup runs, as
// when a test times out or a mutation tool stops it), and expects the
// server's port to refuse connections soon after.
func TestServerDiesWithTestProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		s := launch(t, "--appendonly", "no")
		fmt.Printf("%s %s %d\n", childMarker, s.Addr, s.cmd.Process.Pid)
		time.Sleep(time.Minute) // the parent kills us long before
		t.Fatal("redistest child: not killed within a minute")
	}
	lookServer(t)

	child := exec.Command(os.Args[0], "-test.run=^TestServerDiesWithTestProcess$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"=1")
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatalf("start the child test process: %v", err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()

	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == childMarker {
				found <- f[1:]
				return
			}
		}
		close(found)
	}()
	var addr string
	var pid int
	select {
	case f, ok := <-found:
		if !ok {
			t.Fatal("the child test process exited without starting a redis-server")
		}
		addr = f[0]
		if pid, err = strconv.Atoi(f[1]); err != nil {
			t.Fatalf("child printed pid %q", f[1])
		}
	case <-time.After(time.Minute):
		t.Fatal("the child test process did not start a redis-server within a minute")
	}
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("the child's redis-server does not answer on %s before the kill: %v", addr, err)
	} else {
		c.Close()
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			return // the server died with its test process
		}
		if err == nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // do not leave it behind
			t.Fatalf("redis-server (pid %d) still answers on %s 10s after its test process was SIGKILLed", pid, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
