package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/smtptest"
)

// TestSendSurvivesKill9: a sender killed with SIGKILL mid-send leaves its
// job to the next instance, which resumes it within the lease: nobody is
// lost, and only the messages in flight (at most the connections) go out
// twice.
func TestSendSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a large audience and kills a process: not with -short")
	}
	const subscribers, connections = 1200, 4
	mail, env := newStackEnv(t)
	env["BROADSHEET_SEND_LEASE"] = "1s"
	addActive(t, env, subscribers)
	c := &cli{env: env}
	if code := c.run(context.Background(), "build", "--date", "2026-11-23"); code != 0 {
		t.Fatal(c.stderr.String())
	}
	mail.SetFaults(smtptest.Faults{DataDelay: 3 * time.Millisecond})

	child := exec.Command(os.Args[0], "send", "--edition", "2026-11-23", "--smtp-connections", fmt.Sprint(connections))
	child.Env = append(os.Environ(), "BROADSHEET_TEST_MAIN=1")
	for k, v := range env {
		child.Env = append(child.Env, k+"="+v)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if !mail.Reached(300, 20*time.Second) {
		child.Process.Kill()
		t.Fatalf("the sender sent %d messages in 20s", len(mail.Messages()))
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	sentBefore := len(mail.Messages())
	if sentBefore >= subscribers {
		t.Fatalf("the sender finished (%d) before it was killed", sentBefore)
	}
	mail.SetFaults(smtptest.Faults{})

	// A serve starting now takes the job over once the dead sender's lease
	// ends.
	s := startStackWith(t, mail, env)
	var job jobView
	// Generous: under -race on a busy machine the 900 left take a while.
	deadline := time.Now().Add(2 * time.Minute)
	for job.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the job was not finished 2 minutes after the restart: %+v\nserve's log:\n%s", job, s.server.cli.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
		s.admin(t, "GET", "/api/editions/2026-11-23/send", "", nil, &job)
	}
	dups := mail.Delivered(t, subscribers, func(i int) string { return fmt.Sprintf("reader%d@example.com", i) })
	if dups > connections {
		t.Errorf("%d duplicates after a kill -9, more than the %d connections in flight", dups, connections)
	}
	t.Logf("killed after %d messages; %d duplicates; job %+v", sentBefore, dups, job)
}
