package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// addActive adds n active subscribers through the CLI.
func addActive(t *testing.T, env map[string]string, n int) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(&csv, "reader%d@example.com,Reader %d\n", i, i)
	}
	c := &cli{env: env, stdin: csv.String()}
	if code := c.run(context.Background(), "subscribers", "import", "-"); code != 0 {
		t.Fatalf("import: %d %s", code, c.stderr.String())
	}
}

// TestScheduleBuildsAndSendsOnce: the scheduled run (here made at start,
// as a catch-up) builds today's edition and sends it; the schedule firing
// again the same day does nothing more.
func TestScheduleBuildsAndSendsOnce(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 3)
	s := startStackWith(t, mail, env, "--schedule", "@every 1s")
	s.smtp.WaitFor(t, 3, 10*time.Second)
	time.Sleep(2500 * time.Millisecond) // the schedule fires twice more
	if got := len(s.smtp.Messages()); got != 3 {
		t.Errorf("%d messages, want 3 (one per subscriber, once a day)", got)
	}
	log := s.cli.stderr.String()
	if !strings.Contains(log, "Scheduled run already made today") {
		t.Errorf("the repeated runs were not refused by the day's lock:\n%s", log)
	}
}

// TestCatchUpWindow: a run missed by more than --catch-up is made as a
// build only, and says why.
func TestCatchUpWindow(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 2)
	s := startStackWith(t, mail, env, "--schedule", "@every 1s", "--catch-up", "1ns")
	time.Sleep(1500 * time.Millisecond)
	if got := len(s.smtp.Messages()); got != 0 {
		t.Errorf("%d messages sent although the run was past its catch-up window", got)
	}
	if log := s.cli.stderr.String(); !strings.Contains(log, "missed by more than the catch-up window") {
		t.Errorf("no explanation in the log:\n%s", log)
	}
}
