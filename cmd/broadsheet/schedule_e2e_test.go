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

// middayZone returns an Etc/GMT zone where it is now between 11:00 and
// 13:00, so that the default schedule (06:00) is due today and past, at
// any hour the test runs — the newcomer's "first start after 06:00".
func middayZone(now time.Time) string {
	offset := 12 - now.UTC().Hour() // hours east of UTC: -11 … 12
	switch {
	case offset > 0:
		return fmt.Sprintf("Etc/GMT-%d", offset) // Etc signs are inverted
	case offset < 0:
		return fmt.Sprintf("Etc/GMT+%d", -offset)
	}
	return "UTC"
}

// sendJobStatus returns the status code of GET the send job of day.
func sendJobStatus(t *testing.T, s *stack, day string) (int, map[string]any) {
	t.Helper()
	var job map[string]any
	code := s.admin(t, "GET", "/api/editions/"+day+"/send", "", nil, &job)
	return code, job
}

// TestFreshStoreDoesNotCatchUp: the first start of a store after the day's
// scheduled time builds today's edition and makes no send job (nothing
// was missed: the schedule did not exist); a later start that finds the
// run missed does catch up.
func TestFreshStoreDoesNotCatchUp(t *testing.T) {
	mail, env := newStackEnv(t)
	zone := middayZone(time.Now())
	env["BROADSHEET_TIMEZONE"] = zone
	addActive(t, env, 2)
	s := startStackWith(t, mail, env, "--schedule", "0 6 * * *")
	loc, _ := time.LoadLocation(zone)
	today := time.Now().In(loc).Format("2006-01-02")
	if resp, _ := get(t, s.url+"editions/"+today); resp.StatusCode != 200 {
		t.Fatalf("the first start built no edition for %s: %d", today, resp.StatusCode)
	}
	if code, job := sendJobStatus(t, s, today); code != 404 {
		t.Errorf("a fresh store made a send job: %d %v", code, job)
	}
	if log := s.cli.stderr.String(); !strings.Contains(log, "First start of the schedule on this store") {
		t.Errorf("the log does not say why nothing was sent:\n%s", log)
	}
	if n := len(mail.Messages()); n != 0 {
		t.Errorf("%d messages sent on a fresh store's first start", n)
	}
}

// TestCatchUpWithoutSubscribersMakesNoJob: a missed run caught up on a
// store with no active subscriber builds, and makes no send job that
// would stand "done" for readers who join later.
func TestCatchUpWithoutSubscribersMakesNoJob(t *testing.T) {
	mail, env := newStackEnv(t)
	first := startStackWith(t, mail, env, "--schedule", "0 0 1 1 *")
	if code := first.stop(t); code != 0 {
		t.Fatalf("first serve: %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // "@every" runs fall on whole seconds: one after the first start
	s := startStackWith(t, mail, env, "--schedule", "@every 1h")
	today := time.Now().UTC().Format("2006-01-02")
	log := s.cli.stderr.String()
	if !strings.Contains(log, "Making the scheduled run missed while down") || !strings.Contains(log, "No active subscribers") {
		t.Errorf("the catch-up did not run, or did not say it sends nothing:\n%s", log)
	}
	if code, job := sendJobStatus(t, s, today); code != 404 {
		t.Errorf("a catch-up for 0 subscribers made a send job: %d %v", code, job)
	}
}

// TestCatchUpWindow: a run missed by more than --catch-up is made as a
// build only, and says why.
func TestCatchUpWindow(t *testing.T) {
	mail, env := newStackEnv(t)
	// The schedule has run on this store before (a first start catches
	// nothing up).
	first := startStackWith(t, mail, env, "--schedule", "0 0 1 1 *")
	if code := first.stop(t); code != 0 {
		t.Fatalf("first serve: %d", code)
	}
	time.Sleep(1100 * time.Millisecond) // "@every" runs fall on whole seconds: one after the first start
	addActive(t, env, 2)
	// "@every 1h" was last due this second, and fires no more during the
	// test (a firing every second would race the catch-up for the day).
	s := startStackWith(t, mail, env, "--schedule", "@every 1h", "--catch-up", "1ns")
	time.Sleep(300 * time.Millisecond)
	if got := len(s.smtp.Messages()); got != 0 {
		t.Errorf("%d messages sent although the run was past its catch-up window", got)
	}
	if log := s.cli.stderr.String(); !strings.Contains(log, "missed by more than the catch-up window") {
		t.Errorf("no explanation in the log:\n%s", log)
	}
}
