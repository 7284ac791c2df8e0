package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// newcomer runs a newcomer's first hour on a fresh data dir, after the
// day's scheduled time (06:00 in a zone where it is now about noon): the
// first start builds today's edition and sends nothing; a reader
// subscribes on the form and confirms; then "broadsheet send". It returns
// the stack and what send printed.
func newcomer(t *testing.T, welcome bool) (*stack, string) {
	t.Helper()
	mail, env := newStackEnv(t)
	env["BROADSHEET_TIMEZONE"] = middayZone(time.Now())
	s := startStackWith(t, mail, env, "--schedule", "0 6 * * *", "--welcome-edition="+map[bool]string{true: "true", false: "false"}[welcome])
	if log := s.cli.stderr.String(); !strings.Contains(log, "First start of the schedule") || !strings.Contains(log, "Built edition") {
		t.Fatalf("the first start did not build, or caught up:\n%s", log)
	}
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("the first start mailed %d messages", n)
	}
	if resp, body := post(t, s.url+"subscribe", formType, form("email", "newcomer@example.com")); resp.StatusCode != 200 {
		t.Fatalf("subscribe: %d %s", resp.StatusCode, body)
	}
	link := confirmLink.FindString(mail.WaitFor(t, 1, 5*time.Second)[0].Text(t))
	if resp, body := confirmNow(t, link); resp != 200 || !strings.Contains(body, "You are subscribed") || !strings.Contains(body, "The latest edition:") {
		t.Fatalf("confirm: %d\n%s", resp, body)
	}
	c := &cli{env: env}
	if code := c.run(context.Background(), "send"); code != 0 {
		t.Fatalf("send: %d %s %s", code, c.stdout.String(), c.stderr.String())
	}
	return s, c.stdout.String()
}

// TestNewcomerGetsTheEdition: the newcomer's steps deliver today's edition
// once, and send reports the right counts — by the welcome mail at
// confirmation (send then skips them), or by send itself without it.
func TestNewcomerGetsTheEdition(t *testing.T) {
	t.Run("welcome edition", func(t *testing.T) {
		s, out := newcomer(t, true)
		if want := "done — sent 0, failed 0 (bounced 0), waiting for a retry 0, of 1 active subscriber; 1 skipped (already had it, or no longer active)\n"; !strings.HasSuffix(out, want) {
			t.Errorf("send printed %q, want …%q", out, want)
		}
		checkEditionMails(t, s, 1)
	})
	t.Run("without the welcome", func(t *testing.T) {
		s, out := newcomer(t, false)
		if want := "done — sent 1, failed 0 (bounced 0), waiting for a retry 0, of 1 active subscriber\n"; !strings.HasSuffix(out, want) {
			t.Errorf("send printed %q, want …%q", out, want)
		}
		checkEditionMails(t, s, 1)
	})
}

// checkEditionMails checks that the newcomer got the confirmation and n
// copies of the edition (a mail with a List-Unsubscribe header).
func checkEditionMails(t *testing.T, s *stack, n int) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // a duplicate would have come by now
	editions := 0
	for _, m := range s.smtp.Messages() {
		if !strings.Contains(strings.Join(m.To, ","), "newcomer@example.com") {
			t.Errorf("a mail to %v", m.To)
		}
		if m.Parsed(t).Header.Get("List-Unsubscribe") != "" {
			editions++
		}
	}
	if editions != n {
		t.Errorf("the newcomer got %d copies of the edition, want %d", editions, n)
	}
}
