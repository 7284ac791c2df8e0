package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/broadsheet-news/broadsheet/internal/smtptest"
)

// TestFeedbackThroughServe: serve with --bounce-address and the inbound
// listener sends an edition with VERP return paths; a DSN and a mailto:
// unsubscribe sent to the listener change the subscribers they name,
// which the admin API, the send job's status, the CLI and the metrics
// show; a confirmation mail's envelope sender is tagged too.
func TestFeedbackThroughServe(t *testing.T) {
	mail, env := newStackEnv(t)
	addActive(t, env, 4)
	inbound := freeAddr(t)
	env["BROADSHEET_BOUNCE_ADDRESS"] = "bounces@news.example.com"
	env["BROADSHEET_POSTMARK_WEBHOOK_AUTH"] = "pm:s3cret-pass"
	s := startStackWith(t, mail, env, "--inbound-listen", inbound)

	var built map[string]any
	if code := s.admin(t, "POST", "/api/editions", "application/json", strings.NewReader(`{"date":"2026-11-27"}`), &built); code != 201 {
		t.Fatalf("build: %d %v", code, built)
	}
	if code := s.admin(t, "POST", "/api/editions/2026-11-27/send", "", nil, nil); code != 202 {
		t.Fatalf("send: %d", code)
	}
	msgs := mail.WaitFor(t, 4, 10*time.Second)
	byRcpt := map[string]smtptest.Message{}
	for _, m := range msgs {
		byRcpt[m.To[0]] = m
	}
	waitJob(t, s, "2026-11-27", "done")

	// A hard bounce for reader1, to its return path.
	bounced := byRcpt["reader1@example.com"]
	if !strings.HasPrefix(bounced.From, "bounces+") || !strings.HasSuffix(bounced.From, "@news.example.com") {
		t.Fatalf("envelope sender %q is not a VERP address", bounced.From)
	}
	dsn, err := os.ReadFile(filepath.Join("..", "..", "feedback", "testdata", "rfc3464-c2-user-unknown.eml"))
	if err != nil {
		t.Fatal(err)
	}
	report := strings.NewReplacer("owner-ups-mib@CS.UTK.EDU", bounced.From, "\n", "\r\n").Replace(string(dsn))
	sendTo(t, inbound, bounced.From, report)

	// A mailto: unsubscribe from reader2.
	lu := byRcpt["reader2@example.com"].Parsed(t).Header.Get("List-Unsubscribe")
	mailto := regexp.MustCompile(`<mailto:(unsubscribe\+[a-z2-7]+@news\.example\.com)\?subject=unsubscribe>`).FindStringSubmatch(lu)
	if mailto == nil {
		t.Fatalf("List-Unsubscribe %q", lu)
	}
	sendTo(t, inbound, mailto[1], "From: reader2@example.com\r\nTo: "+mailto[1]+"\r\nSubject: unsubscribe\r\n\r\n")

	// A Postmark spam complaint about reader3, through the webhook route.
	pm, err := os.ReadFile(filepath.Join("..", "..", "feedback", "testdata", "webhooks", "postmark-spam-complaint.json"))
	if err != nil {
		t.Fatal(err)
	}
	pm = []byte(strings.ReplaceAll(string(pm), "john@example.com", "reader3@example.com"))
	basic := func(userPass string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass)) }
	hook := s.url + "webhooks/postmark"
	if resp, _ := post(t, hook, "application/json", bytes.NewReader(pm), "Authorization", basic("pm:wrong")); resp.StatusCode != 401 {
		t.Errorf("a wrong password: %d", resp.StatusCode)
	}
	if resp, _ := post(t, s.url+"webhooks/mailgun", "application/json", bytes.NewReader(pm)); resp.StatusCode != 404 {
		t.Errorf("a webhook not configured: %d", resp.StatusCode)
	}
	if s.subscriber(t, "reader3@example.com").Status != "active" {
		t.Error("a refused webhook changed a subscriber")
	}
	if resp, body := post(t, hook, "application/json", bytes.NewReader(pm), "Authorization", basic("pm:s3cret-pass")); resp.StatusCode != 200 {
		t.Errorf("the Postmark webhook: %d %s", resp.StatusCode, body)
	}

	for email, want := range map[string]string{"reader0@example.com": "active", "reader1@example.com": "bounced",
		"reader2@example.com": "unsubscribed", "reader3@example.com": "complained"} {
		if got := s.subscriber(t, email).Status; got != want {
			t.Errorf("%s is %s, want %s", email, got, want)
		}
	}
	var one struct {
		Feedback []map[string]string
	}
	s.admin(t, "GET", "/api/subscribers/reader1@example.com", "", nil, &one)
	if len(one.Feedback) != 1 || one.Feedback[0]["kind"] != "hard" || one.Feedback[0]["edition"] != "2026-11-27" || one.Feedback[0]["source"] != "inbound" {
		t.Errorf("subscriber's feedback: %v", one.Feedback)
	}
	var list struct {
		Events     []map[string]string
		NextCursor string `json:"next_cursor"`
	}
	if code := s.admin(t, "GET", "/api/bounces?kind=hard", "", nil, &list); code != 200 || len(list.Events) != 1 || list.Events[0]["email"] != "reader1@example.com" {
		t.Errorf("GET /api/bounces?kind=hard: %d %+v", code, list)
	}
	if code := s.admin(t, "GET", "/api/bounces?limit=2", "", nil, &list); code != 200 || len(list.Events) != 2 || list.Events[0]["kind"] != "complaint" || list.Events[1]["kind"] != "unsubscribe" || list.NextCursor == "" {
		t.Errorf("GET /api/bounces?limit=2: %d %+v", code, list)
	}
	if code := s.admin(t, "GET", "/api/bounces?limit=2&cursor="+list.NextCursor, "", nil, &list); code != 200 || len(list.Events) != 1 || list.Events[0]["kind"] != "hard" {
		t.Errorf("the next page: %d %+v", code, list)
	}
	var apiErr map[string]string
	if code := s.admin(t, "GET", "/api/bounces?kind=nonsense", "", nil, &apiErr); code != 400 || apiErr["field"] != "kind" {
		t.Errorf("a bad kind: %d %v", code, apiErr)
	}
	if code := s.admin(t, "GET", "/api/bounces?cursor=x", "", nil, &apiErr); code != 400 || apiErr["field"] != "cursor" {
		t.Errorf("a bad cursor: %d %v", code, apiErr)
	}
	var job struct {
		Returned map[string]int64
	}
	s.admin(t, "GET", "/api/editions/2026-11-27/send", "", nil, &job)
	if job.Returned["bounced"] != 1 || job.Returned["complained"] != 0 {
		t.Errorf("the job's returned counts: %v", job.Returned)
	}
	_, metrics := get(t, s.url+"metrics", "Authorization", "Bearer "+testAdminToken)
	for _, want := range []string{`broadsheet_feedback_total{kind="hard",source="inbound"} 1`, `broadsheet_feedback_total{kind="unsubscribe",source="inbound"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The console shows the same reports: every kind, one kind, and a
	// subscriber's own on their page.
	cc := newConsoleClient(t, s.url)
	cc.login(testAdminToken)
	resp, body := cc.get("admin/bounces")
	for _, want := range []string{`aria-current="page">Bounces`, "reader1@example.com", "reader2@example.com", "reader3@example.com", ">complaint<", ">hard<"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("the console's bounces page: %d, lacks %q\n%s", resp.StatusCode, want, body)
		}
	}
	if resp, body := cc.get("admin/bounces?kind=hard"); resp.StatusCode != 200 || !strings.Contains(body, "reader1@example.com") ||
		strings.Contains(body, "reader2@example.com") || strings.Contains(body, "reader3@example.com") {
		t.Errorf("the console's hard bounces: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := cc.get("admin/bounces?kind=nonsense"); resp.StatusCode != 400 || !strings.Contains(body, "the kind must be") {
		t.Errorf("the console's bounces of a bad kind: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := cc.get("admin/subscribers/reader1@example.com"); resp.StatusCode != 200 || !strings.Contains(body, "Last reports") ||
		!strings.Contains(body, "2026-11-27") || !strings.Contains(body, ">inbound<") {
		t.Errorf("a bounced subscriber's console page: %d\n%s", resp.StatusCode, body)
	}

	c := &cli{env: env}
	out := c.mustRun(t, 0, "bounces", "--kind", "hard")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "reader1@example.com") || !strings.Contains(lines[1], "2026-11-27") {
		t.Errorf("broadsheet bounces --kind hard:\n%s", out)
	}
	c = &cli{env: env}
	if code := c.run(context.Background(), "bounces", "--kind", "nonsense"); code != 2 {
		t.Errorf("bounces --kind nonsense: exit %d", code)
	}

	// A confirmation mail goes out with a tagged return path too.
	before := len(mail.Messages())
	post(t, s.url+"subscribe", formType, form("email", "new@example.com"))
	got := mail.WaitFor(t, before+1, 10*time.Second)
	if from := got[before].From; !strings.HasPrefix(from, "bounces+") {
		t.Errorf("confirmation mail's envelope sender %q", from)
	}
}

func waitJob(t *testing.T, s *stack, day, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var job jobView
		s.admin(t, "GET", "/api/editions/"+day+"/send", "", nil, &job)
		if job.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q, want %q", day, job.State, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sendTo(t *testing.T, addr, rcpt, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("", []string{rcpt}, bytes.NewReader([]byte(msg))); err != nil {
		t.Fatalf("the listener refused a report to %s: %v", rcpt, err)
	}
}

func TestFeedbackFlagsRefused(t *testing.T) {
	_, env := newStackEnv(t)
	for name, args := range map[string][]string{
		"listener without a bounce address":   {"serve", "--inbound-listen", "127.0.0.1:0"},
		"a bad soft-bounce limit":             {"serve", "--bounce-address", "b@example.com", "--soft-bounce-limit", "3"},
		"a bounce address with a plus":        {"serve", "--bounce-address", "b+x@example.com"},
		"an unsubscribe mailbox alone":        {"serve", "--unsubscribe-mailbox", "u@example.com"},
		"a certificate without its key":       {"serve", "--bounce-address", "b@example.com", "--inbound-tls-cert", "x.pem"},
		"an unreadable certificate":           {"serve", "--bounce-address", "b@example.com", "--inbound-tls-cert", "x.pem", "--inbound-tls-key", "y.pem"},
		"the same bounce and unsubscribe box": {"serve", "--bounce-address", "b@example.com", "--unsubscribe-mailbox", "b@example.com"},
		"$a mailbox without a bounce address": {"serve", "imaps://u:p@127.0.0.1/INBOX"},
		"$a mailbox that is not IMAP":         {"serve", "--bounce-address", "b@example.com", "pop3://u:p@127.0.0.1/INBOX"},
		"a short Postmark password":           {"serve", "BROADSHEET_POSTMARK_WEBHOOK_AUTH=pm:short"},
		"a SendGrid key that is not one":      {"serve", "BROADSHEET_SENDGRID_WEBHOOK_KEY=bm90IGEga2V5"},
	} {
		t.Run(name, func(t *testing.T) {
			c := &cli{env: env}
			if last := args[len(args)-1]; strings.HasPrefix(name, "$") || strings.HasPrefix(last, "BROADSHEET_") {
				c.env = map[string]string{}
				for k, v := range env {
					c.env[k] = v
				}
				if k, v, ok := strings.Cut(last, "="); ok && strings.HasPrefix(k, "BROADSHEET_") {
					c.env[k] = v
				} else {
					c.env["BROADSHEET_BOUNCE_MAILBOX"] = last
				}
				args = args[:len(args)-1]
			}
			if code := c.run(context.Background(), args...); code != 2 {
				t.Errorf("exit %d, want 2: %s", code, c.stderr.String())
			}
			if n := strings.Count(strings.TrimSpace(c.stderr.String()), "\n"); n != 0 {
				t.Errorf("stderr is not one line: %s", c.stderr.String())
			}
		})
	}
}
