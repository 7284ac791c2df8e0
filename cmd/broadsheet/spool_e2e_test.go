package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// While Redis is down, a one-click unsubscribe, a confirmation and a
// preferences change get their normal answers, are kept in the spool on
// disk, and are applied when Redis is back.
func TestReaderActionsSurviveARedisOutage(t *testing.T) {
	redis := redistest.StartPersistent(t)
	mail, env := newStackEnv(t)
	env["BROADSHEET_REDIS_URL"] = "redis://" + redis.Addr
	s := startStackWith(t, mail, env)
	for _, body := range []string{
		`{"email":"leaver@example.com","status":"active","consent":"test"}`,
		`{"email":"chooser@example.com","status":"active","consent":"test"}`,
		`{"email":"joiner@example.com","status":"pending","consent":"test"}`,
	} {
		if code := s.admin(t, "POST", "api/subscribers", "application/json", strings.NewReader(body), nil); code != 201 {
			t.Fatalf("add %s: %d", body, code)
		}
	}
	const leaver, chooser, joiner = 1, 2, 3 // ids, in the order added
	now := time.Now()
	unsub := s.url + "unsubscribe/" + s.signer.Sign(subscription.PurposeUnsubscribe, leaver, now)
	prefs := s.url + "preferences/" + s.signer.Sign(subscription.PurposePreferences, chooser, now)
	confirm := s.url + "confirm/" + s.signer.Sign(subscription.PurposeConfirm, joiner, now)

	redis.Stop()
	if resp, body := get(t, unsub); resp.StatusCode != 200 || !strings.Contains(body, `<form method="post"`) {
		t.Errorf("GET unsubscribe with Redis down: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := post(t, unsub, formType, form("List-Unsubscribe", "One-Click")); resp.StatusCode != 200 ||
		!strings.Contains(body, "You are unsubscribed") {
		t.Errorf("one-click with Redis down: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := get(t, prefs); resp.StatusCode != 200 || !strings.Contains(body, `value="text"`) {
		t.Errorf("GET preferences with Redis down: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := post(t, prefs, formType, form("action", "save", "format", "text")); resp.StatusCode != 200 ||
		!strings.Contains(body, "Saved") {
		t.Errorf("preferences with Redis down: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := confirmNow(t, confirm); resp != 200 || !strings.Contains(body, "You are subscribed") {
		t.Errorf("confirm with Redis down: %d\n%s", resp, body)
	}
	spooled, err := os.ReadFile(filepath.Join(env["BROADSHEET_DATA_DIR"], "spool", "reader-actions.jsonl"))
	if err != nil || strings.Count(string(spooled), "\n") != 3 {
		t.Fatalf("spool holds %q (%v), want 3 actions on disk", spooled, err)
	}
	if strings.Contains(string(spooled), "@") {
		t.Errorf("the spool holds an address: %s", spooled)
	}

	if err := redis.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var l, c, j subscriberView
		codes := s.admin(t, "GET", "api/subscribers/leaver@example.com", "", nil, &l) +
			s.admin(t, "GET", "api/subscribers/chooser@example.com", "", nil, &c) +
			s.admin(t, "GET", "api/subscribers/joiner@example.com", "", nil, &j)
		if codes == 600 && l.Status == "unsubscribed" && c.Format == "text" && j.Status == "active" {
			if l.Consent["left_how"] != "one-click" {
				t.Errorf("left how %q, want one-click", l.Consent["left_how"])
			}
			left, _ := time.Parse(time.RFC3339, l.Consent["left_at"])
			if left.Before(now.Add(-2*time.Second)) || left.After(now.Add(5*time.Second)) {
				t.Errorf("left_at %s: want the time of the click (%s), not of the replay", l.Consent["left_at"], now)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after Redis came back: leaver %s, chooser %s, joiner %s", l.Status, c.Format, j.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The spool is emptied once every action in it is applied (just after
	// the last one shows).
	spoolFile := filepath.Join(env["BROADSHEET_DATA_DIR"], "spool", "reader-actions.jsonl")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(spoolFile)
		if len(b) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("spool 5s after the replay: %q", b)
			break
		}
	}

	// The outage is two lines in the log, not an error every 250 ms; no
	// address is logged.
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(s.cli.stderr.String(), "Redis reachable again") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	log := s.cli.stderr.String()
	if n := strings.Count(log, "Redis unreachable"); n != 1 {
		t.Errorf("%d 'Redis unreachable' lines, want 1", n)
	}
	if n := strings.Count(log, "Redis reachable again"); n != 1 || !strings.Contains(log, "down_for=") {
		t.Errorf("%d 'Redis reachable again' lines (want 1, with down_for)", n)
	}
	if n := strings.Count(log, "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines, want 1 (the outage's start):\n%s", n, log)
	}
	if strings.Contains(log, "@example.com") {
		t.Errorf("an address is in the log:\n%s", log)
	}
}

// confirmNow follows a confirmation link as a reader does: GET, and when
// the page asks for a button press (a form posting back), POST it.
func confirmNow(t *testing.T, link string) (int, string) {
	t.Helper()
	resp, body := get(t, link)
	if resp.StatusCode == 200 && strings.Contains(body, `method="post"`) && !strings.Contains(body, "/resend") {
		resp, body = post(t, link, formType, strings.NewReader(""))
	}
	return resp.StatusCode, body
}
