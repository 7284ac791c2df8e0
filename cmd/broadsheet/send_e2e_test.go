package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/subscription"
)

type jobView struct {
	Edition                                 string
	State                                   string
	Total, Sent, Failed, Bounced, Remaining int64
	Reason                                  string
	ETA                                     *int `json:"eta_seconds"`
}

// TestSendThroughTheAPI: build, send (idempotent), follow, test, pause and
// resume through the admin API.
func TestSendThroughTheAPI(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 25)
	s := startStackWith(t, mail, env)
	var built map[string]any
	if code := s.admin(t, "POST", "/api/editions", "application/json", strings.NewReader(`{"date":"2026-11-20"}`), &built); code != 201 || built["outcome"] != "created" {
		t.Fatalf("POST /api/editions: %d %v", code, built)
	}
	var refused map[string]any
	if code := s.admin(t, "POST", "/api/editions", "application/json", strings.NewReader(`{"date":"9999-12-31"}`), &refused); code != 400 || refused["field"] != "date" || !strings.Contains(fmt.Sprint(refused["error"]), "is after tomorrow") {
		t.Errorf("a day past tomorrow: %d %v", code, refused)
	}
	var job jobView
	send := func(key string) int {
		req, _ := http.NewRequest("POST", s.url+"api/editions/2026-11-20/send", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("k1"); code != 202 {
		t.Fatalf("POST send: %d", code)
	}
	if code := send("k1"); code != 202 {
		t.Errorf("the same key again: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for job.State != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the send did not finish: %+v", job)
		}
		time.Sleep(50 * time.Millisecond)
		s.admin(t, "GET", "/api/editions/2026-11-20/send", "", nil, &job)
	}
	if job.Sent != 25 || job.Failed != 0 || job.Remaining != 0 || len(mail.Messages()) != 25 {
		t.Errorf("after the send: %+v, %d messages", job, len(mail.Messages()))
	}
	// Sending again sends nothing new; the key cannot be reused for another edition.
	send("k2")
	time.Sleep(300 * time.Millisecond)
	if n := len(mail.Messages()); n != 25 {
		t.Errorf("sending again sent %d more", n-25)
	}
	s.admin(t, "POST", "/api/editions", "application/json", strings.NewReader(`{"date":"2026-11-21"}`), nil)
	if code := func() int {
		req, _ := http.NewRequest("POST", s.url+"api/editions/2026-11-21/send", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Idempotency-Key", "k1")
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
		return resp.StatusCode
	}(); code != 409 {
		t.Errorf("a key reused for another edition: %d, want 409", code)
	}
	// Control: a finished job cannot be paused.
	var apiErr map[string]any
	if code := s.admin(t, "POST", "/api/editions/2026-11-20/send/pause", "", nil, &apiErr); code != 409 {
		t.Errorf("pausing a finished job: %d", code)
	}
	// A test send goes to the given address only, outside the ledger.
	var sent map[string]any
	if code := s.admin(t, "POST", "/api/editions/2026-11-20/test", "application/json", strings.NewReader(`{"to":["Editor@Example.com"]}`), &sent); code != 200 {
		t.Errorf("test send: %d %v", code, sent)
	}
	if mail.Received("editor@example.com") != 1 {
		t.Errorf("the test address got %d messages", mail.Received("editor@example.com"))
	}
	// Every test address's links are signed as a real one's are, for the
	// sample subscriber id no subscriber has.
	if code := s.admin(t, "POST", "/api/editions/2026-11-20/test", "application/json", strings.NewReader(`{"to":["a@example.com","b@example.com"]}`), &sent); code != 200 {
		t.Errorf("test send to two: %d %v", code, sent)
	}
	msgs := mail.Messages()
	for _, m := range msgs[len(msgs)-2:] {
		link := regexp.MustCompile(`/unsubscribe/([A-Za-z0-9_-]+)>`).FindSubmatch(m.Data)
		if link == nil {
			t.Fatalf("no unsubscribe link in the test send to %v", m.To)
		}
		if id, _, err := s.signer.Verify(subscription.PurposeUnsubscribe, string(link[1])); err != nil || id != mailer.SampleSubscriberID {
			t.Errorf("test send to %v: unsubscribe token id %d, %v", m.To, id, err)
		}
	}
	if code := s.admin(t, "POST", "/api/editions/2026-11-20/send?resend_failed=maybe", "", nil, &apiErr); code != 400 || !strings.Contains(fmt.Sprint(apiErr), "resend_failed") {
		t.Errorf("resend_failed=maybe: %d %v", code, apiErr)
	}
	if code := s.admin(t, "GET", "/api/editions/2026-01-01/send", "", nil, &apiErr); code != 404 {
		t.Errorf("status of a job that does not exist: %d", code)
	}
	if code := s.admin(t, "POST", "/api/editions/2026-11-20/test", "application/json", strings.NewReader(`{"to":["not an address"]}`), &apiErr); code != 400 {
		t.Errorf("a bad test address: %d", code)
	}

	// Metrics, behind the admin token.
	get(t, s.url+"feed.rss")
	if resp, _ := get(t, s.url+"metrics"); resp.StatusCode != 401 {
		t.Errorf("/metrics without the token: %d", resp.StatusCode)
	}
	_, metrics := get(t, s.url+"metrics", "Authorization", "Bearer "+testAdminToken)
	for _, want := range []string{`broadsheet_messages_total{result="sent"} 25`, `broadsheet_subscribers{status="active"} 25`,
		`broadsheet_builds_total{outcome="created"}`, `broadsheet_feed_requests_total{feed="rss",status="200"} 1`,
		"broadsheet_message_send_seconds_count 25", "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestSendCLI: broadsheet send delivers each active subscriber once; a
// second send sends nothing.
func TestSendCLI(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 40)
	c := &cli{env: env}
	if code := c.run(context.Background(), "build", "--date", "2026-11-22"); code != 0 {
		t.Fatal(c.stderr.String())
	}
	if code := c.run(context.Background(), "send", "--dry-run"); code != 0 || !strings.Contains(c.stdout.String(), "would send") {
		t.Fatalf("dry run: %d %s", code, c.stdout.String())
	}
	if len(mail.Messages()) != 0 {
		t.Fatal("a dry run sent mail")
	}
	c.stderr.Reset()
	if code := c.run(context.Background(), "send"); code != 0 || !strings.Contains(c.stdout.String(), "done — sent 40, failed 0") {
		t.Fatalf("send: %d\n%s\n%s", code, c.stdout.String(), c.stderr.String())
	}
	// An http:// base URL with a real SMTP server: warned, once.
	if n := strings.Count(c.stderr.String(), "Gmail and Yahoo require an https one"); n != 1 {
		t.Errorf("the http base URL warning appears %d times:\n%s", n, c.stderr.String())
	}
	if code := c.run(context.Background(), "send"); code != 0 || len(mail.Messages()) != 40 {
		t.Errorf("a second send: %d, %d messages", code, len(mail.Messages()))
	}
	for to, n := range mail.Recipients() {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	if code := c.run(context.Background(), "send", "--edition", "2020-01-01"); code != 2 {
		t.Errorf("an unknown edition: exit %d", code)
	}
}

// TestSendSummaryCounts: the summary counts the audience — nobody at
// first (no job is made), then the reader who joined, then, on the done
// job, the one who joined since.
func TestSendSummaryCounts(t *testing.T) {
	mail, env := newStackEnv(t)
	c := &cli{env: env}
	if code := c.run(context.Background(), "build", "--date", "2026-11-22"); code != 0 {
		t.Fatal(c.stderr.String())
	}
	if code := c.run(context.Background(), "send"); code != 0 || !strings.Contains(c.stdout.String(), "2026-11-22: no active subscriber: nothing sent") {
		t.Fatalf("send to nobody: %d\n%s", code, c.stdout.String())
	}
	addActive(t, env, 1)
	if code := c.run(context.Background(), "send"); code != 0 || !strings.HasSuffix(c.stdout.String(), "sent 1, failed 0 (bounced 0), waiting for a retry 0, of 1 active subscriber\n") {
		t.Fatalf("send to the newcomer: %d\n%s", code, c.stdout.String())
	}
	var csv strings.Builder
	csv.WriteString("email,name,status\nlater@example.com,Later,active\n")
	imp := &cli{env: env, stdin: csv.String()}
	if code := imp.run(context.Background(), "subscribers", "import", "-"); code != 0 {
		t.Fatal(imp.stderr.String())
	}
	out := ""
	if code := c.run(context.Background(), "send"); code != 0 {
		t.Fatalf("send again: %d %s", code, c.stderr.String())
	}
	out = c.stdout.String()
	if !strings.Contains(out, "sent to the 1 active subscriber(s) who joined since it was sent") || !strings.Contains(out, "of 2 active subscribers") {
		t.Errorf("send on the done job:\n%s", out)
	}
	if n := len(mail.Messages()); n != 2 || mail.Received("later@example.com") != 1 {
		t.Errorf("%d messages (later@example.com: %d), want 2 and 1", n, mail.Received("later@example.com"))
	}
}

// TestPostalWarningOnlyWhenMailing: the missing postal address is warned
// of once, by the commands that mail editions, and not by the others.
func TestPostalWarningOnlyWhenMailing(t *testing.T) {
	_, env := newStackEnv(t)
	addActive(t, env, 1)
	c := &cli{env: env}
	for _, args := range [][]string{{"build"}, {"preview"}, {"send", "--dry-run"}, {"subscribers", "count"}, {"send"}} {
		if code := c.run(context.Background(), args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, c.stderr.String())
		}
		want := 0
		if args[0] == "send" && len(args) == 1 {
			want = 1
		}
		if n := strings.Count(c.stderr.String(), "No postal address"); n != want {
			t.Errorf("%v warned %d times of the postal address, want %d:\n%s", args, n, want, c.stderr.String())
		}
	}
}
