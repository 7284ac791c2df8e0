package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/smtptest"
)

// startServeProcess runs `broadsheet serve` as a process of its own (this
// test binary as broadsheet), mailing through mail, and waits until it is
// ready. It dies with the test (and with the test binary).
func startServeProcess(t *testing.T, env map[string]string, mail *smtptest.Server, args ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", addr, "--schedule", "off"}, args...)...)
	cmd.Env = append(os.Environ(), "BROADSHEET_TEST_MAIN=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "BROADSHEET_SMTP_URL="+mail.URL(), "BROADSHEET_LISTEN="+addr, "BROADSHEET_BASE_URL=http://"+addr+"/",
		"BROADSHEET_LOG_LEVEL=warn")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://" + addr + "/"
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 60s: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSharedSendSurvivesKill9: three serve processes share a send of
// 20,000 (each mails through a server of its own, so the test sees who
// sent what); one is killed with SIGKILL mid-send. The two others take
// its chunk over once its lease ends: nobody is lost, and only its
// messages in flight (at most its connections) go out twice.
func TestSharedSendSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 20,000 subscribers and runs three serve processes: not with -short")
	}
	const subscribers, connections, day = 20000, 10, "2026-11-24"
	mail, env := newStackEnv(t)
	env["BROADSHEET_SEND_LEASE"] = "2s"
	env["BROADSHEET_SMTP_CONNECTIONS"] = fmt.Sprint(connections)
	addActive(t, env, subscribers)
	c := &cli{env: env}
	if code := c.run(context.Background(), "build", "--date", day); code != 0 {
		t.Fatal(c.stderr.String())
	}
	mails := []*smtptest.Server{mail, smtptest.Start(t), smtptest.Start(t)}
	procs := make([]*exec.Cmd, len(mails))
	urls := make([]string, len(mails))
	for i, m := range mails {
		m.SetFaults(smtptest.Faults{DataDelay: 5 * time.Millisecond})
		procs[i], urls[i] = startServeProcess(t, env, m)
	}
	first := &stack{server: &server{url: urls[0]}}
	var job jobView
	if code := first.admin(t, "POST", "/api/editions/"+day+"/send", "", nil, &job); code != http.StatusAccepted {
		t.Fatalf("POST send: %d %+v", code, job)
	}
	total := func() int {
		n := 0
		for _, m := range mails {
			n += len(m.Messages())
		}
		return n
	}
	// Generous: under -race on a busy machine 20,000 messages are slow.
	deadline := time.Now().Add(5 * time.Minute)
	for total() < subscribers/4 || len(mails[2].Messages()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages sent in 5 minutes (the third instance %d)", total(), len(mails[2].Messages()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := procs[2].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = procs[2].Wait()
	killedAt := total()
	for job.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the job was not done 5 minutes after the send started: %+v", job)
		}
		time.Sleep(100 * time.Millisecond)
		first.admin(t, "GET", "/api/editions/"+day+"/send", "", nil, &job)
	}
	dups := 0
	for i := range subscribers {
		got := 0
		for _, m := range mails {
			got += m.Received(fmt.Sprintf("reader%d@example.com", i))
		}
		switch {
		case got == 0:
			t.Errorf("reader%d got nothing: lost", i)
		case got > 1:
			dups += got - 1
		}
	}
	if dups > connections {
		t.Errorf("%d duplicates after a kill -9, more than the killed instance's %d connections", dups, connections)
	}
	if job.Sent != subscribers {
		t.Errorf("job: %+v", job)
	}
	var shares []string
	for i, m := range mails {
		n := len(m.Messages())
		shares = append(shares, fmt.Sprintf("instance %d: %d (%.0f%%)", i, n, 100*float64(n)/subscribers))
		if i < 2 && float64(n) < 0.2*subscribers {
			t.Errorf("instance %d sent %d of %d, less than 20%%", i, n, subscribers)
		}
	}
	t.Logf("killed the third at %d messages; %d duplicates; %s", killedAt, dups, strings.Join(shares, ", "))
}

// TestSendCatchUpCLI: with no active subscriber, send makes no job and
// says so; a done edition sent again goes to those who joined since and
// says how many; with nobody new, it says there is nothing to send. The
// API's send says the same.
func TestSendCatchUpCLI(t *testing.T) {
	mail, env := newStackEnv(t)
	c := &cli{env: env}
	ctx := context.Background()
	if code := c.run(ctx, "build", "--date", "2026-11-21"); code != 0 {
		t.Fatal(c.stderr.String())
	}
	if code := c.run(ctx, "send"); code != 0 || !strings.Contains(c.stdout.String(), "no active subscriber: nothing sent, no send job made") {
		t.Fatalf("send to nobody: %d\n%s\n%s", code, c.stdout.String(), c.stderr.String())
	}
	s := startStackWith(t, mail, env)
	var out map[string]any
	if code := s.admin(t, "POST", "/api/editions/2026-11-21/send", "", nil, &out); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(out["error"]), "no active subscriber") {
		t.Errorf("API send to nobody: %d %v", code, out)
	}
	addActive(t, env, 3)
	if code := c.run(ctx, "send"); code != 0 || !strings.Contains(c.stdout.String(), "done — sent 3") {
		t.Fatalf("send: %d\n%s", code, c.stdout.String())
	}
	c.stdout.Reset()
	if code := c.run(ctx, "send"); code != 0 || !strings.Contains(c.stdout.String(), "no active subscriber joined since: nothing to send") {
		t.Fatalf("send again: %d\n%s", code, c.stdout.String())
	}
	for _, email := range []string{"late1@example.com", "late2@example.com"} {
		if code := c.run(ctx, "subscribers", "add", email, "--status", "active"); code != 0 {
			t.Fatal(c.stderr.String())
		}
	}
	c.stdout.Reset()
	if code := c.run(ctx, "send"); code != 0 || !strings.Contains(c.stdout.String(), "sent to the 2 active subscriber(s) who joined since") ||
		!strings.Contains(c.stdout.String(), "done — sent 5") {
		t.Fatalf("send after two joined: %d\n%s", code, c.stdout.String())
	}
	if n := len(mail.Messages()); n != 5 {
		t.Errorf("%d messages, want 5 (3, then the 2 who joined)", n)
	}
	for to, n := range mail.Recipients() {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	var status struct {
		State      string
		CatchUp    int64 `json:"catch_up"`
		ChunkCount int64 `json:"chunks"`
		ChunkDone  int64 `json:"chunks_done"`
	}
	if code := s.admin(t, "GET", "/api/editions/2026-11-21/send", "", nil, &status); code != 200 || status.State != "done" ||
		status.CatchUp != 2 || status.ChunkCount < 1 || status.ChunkDone != status.ChunkCount {
		t.Errorf("GET send: %d %+v", code, status)
	}
	out = nil
	if code := s.admin(t, "POST", "/api/editions/2026-11-21/send", "", nil, &out); code != http.StatusAccepted ||
		!strings.Contains(fmt.Sprint(out["message"]), "no active subscriber joined since") {
		t.Errorf("API send again: %d %v", code, out)
	}
}
