package feedback_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/subscription"
)

func TestListenerHardBounce(t *testing.T) {
	w := newWorld(t, 4)
	sent := w.sendEdition(t, "2026-11-27")
	victim := w.emails[1]
	rp := sent[victim].returnPath
	if !strings.HasPrefix(rp, "bounces+") || !strings.HasSuffix(rp, "@news.example.com") || rp == sent[w.emails[0]].returnPath {
		t.Fatalf("return path %q is not a per-subscriber VERP address", rp)
	}
	dsn := dsnFor(t, rp, victim, "5.0.0")
	if err := w.deliver(t, rp, dsn); err != nil {
		t.Fatalf("DSN refused: %v", err)
	}
	w.checkOnly(t, 1, digest.Bounced)

	// The same report again (a replay) changes and counts nothing more.
	if err := w.deliver(t, rp, dsn); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	events, _, err := w.store.FeedbackEvents(ctx, "hard", "", 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("hard events: %+v %v", events, err)
	}
	ev := events[0]
	if ev.Subscriber != 2 || ev.Email != victim || ev.Edition != "2026-11-27" || ev.Source != "inbound" ||
		!strings.Contains(ev.Diagnostic, "5.0.0") {
		t.Errorf("event %+v", ev)
	}
	if bounced, complained, _ := w.store.EditionFeedback(ctx, "2026-11-27"); bounced != 1 || complained != 0 {
		t.Errorf("edition counts bounced %d complained %d, want 1 0", bounced, complained)
	}
	if n := w.metrics.get("hard/inbound"); n != 1 {
		t.Errorf("metric hard/inbound = %d, want 1", n)
	}
	sub, _ := w.store.Subscriber(ctx, 2)
	if sub.Consent.LeftHow != "bounce" || sub.Consent.LeftAt.IsZero() {
		t.Errorf("consent %+v", sub.Consent)
	}
}

func TestListenerThreeSoftBounces(t *testing.T) {
	w := newWorld(t, 3)
	victim := w.emails[2]
	for i, day := range []string{"2026-11-25", "2026-11-26", "2026-11-27"} {
		sent := w.sendEdition(t, day)
		rp := sent[victim].returnPath
		if err := w.deliver(t, rp, dsnFor(t, rp, victim, "4.0.0")); err != nil {
			t.Fatal(err)
		}
		want := digest.Active
		if i == 2 {
			want = digest.Bounced
		}
		w.checkOnly(t, 2, want)
		if t.Failed() {
			t.Fatalf("after soft bounce %d", i+1)
		}
	}
	if bounced, _, _ := w.store.EditionFeedback(context.Background(), "2026-11-27"); bounced != 1 {
		t.Errorf("the third soft bounce's edition counts %d bounced", bounced)
	}
}

// Delayed-delivery notices for one message count once, however many come.
func TestListenerSoftBounceRepeatsCountOnce(t *testing.T) {
	w := newWorld(t, 2)
	sent := w.sendEdition(t, "2026-11-27")
	rp := sent[w.emails[0]].returnPath
	for range 4 {
		if err := w.deliver(t, rp, dsnFor(t, rp, w.emails[0], "4.0.0")); err != nil {
			t.Fatal(err)
		}
	}
	w.checkOnly(t, 0, digest.Active)
	if n := w.metrics.get("soft/inbound"); n != 1 {
		t.Errorf("soft events %d, want 1", n)
	}
}

func TestListenerComplaint(t *testing.T) {
	w := newWorld(t, 3)
	sent := w.sendEdition(t, "2026-11-27")
	victim := w.emails[0]
	// A feedback loop sends to the bounce address without a tag; the tag
	// is in the report's Original-Mail-From.
	if err := w.deliver(t, "bounces@news.example.com", arfFor(t, sent[victim].returnPath, victim)); err != nil {
		t.Fatal(err)
	}
	w.checkOnly(t, 0, digest.Complained)
	if _, complained, _ := w.store.EditionFeedback(context.Background(), "2026-11-27"); complained != 1 {
		t.Errorf("complained %d, want 1", complained)
	}
	// A complained address gets no more editions.
	next := w.sendEdition(t, "2026-11-28")
	if _, ok := next[victim]; ok || len(next) != 2 {
		t.Errorf("the next edition went to %d subscribers, the complainer among them: %v", len(next), ok)
	}
}

func TestListenerMailtoUnsubscribe(t *testing.T) {
	w := newWorld(t, 3)
	sent := w.sendEdition(t, "2026-11-27")
	victim := w.emails[2]
	to := sent[victim].unsubscribe
	if !strings.HasPrefix(to, "unsubscribe+") || !strings.HasSuffix(to, "@news.example.com") {
		t.Fatalf("mailto: %q", to)
	}
	// A mail client answering the mailto: (the relay folded the case).
	msg := "From: " + victim + "\r\nTo: " + strings.ToUpper(to) + "\r\nSubject: unsubscribe\r\n\r\n"
	if err := w.deliver(t, strings.ToUpper(to), []byte(msg)); err != nil {
		t.Fatal(err)
	}
	// Done when the listener answered 250: no waiting.
	w.checkOnly(t, 2, digest.Unsubscribed)
	sub, _ := w.store.Subscriber(context.Background(), 3)
	if sub.Consent.LeftHow != "mailto" {
		t.Errorf("left how %q", sub.Consent.LeftHow)
	}
}

func TestListenerForgedTagsChangeNobody(t *testing.T) {
	w := newWorld(t, 3)
	sent := w.sendEdition(t, "2026-11-27")
	email := w.emails[0]
	rp := sent[email].returnPath
	local, domain, _ := strings.Cut(rp, "@")
	base, tag, _ := strings.Cut(local, "+")
	altered := []byte(tag)
	altered[5] = map[bool]byte{true: 'b', false: 'a'}[altered[5] == 'a']
	otherSigner, _ := subscription.NewSigner([]string{"another-secret-0123456789abcdef"})
	foreign := otherSigner.SignTag(subscription.TagBounce, subscription.Tag{Subscriber: 1, Day: mustDay(t, "2026-11-27")})
	unknown := w.signer.SignTag(subscription.TagBounce, subscription.Tag{Subscriber: 999, Day: mustDay(t, "2026-11-27")})
	unsubTag := strings.TrimPrefix(strings.Split(sent[email].unsubscribe, "@")[0], "unsubscribe+")
	// Each tag at the bounce address (as a DSN) and at the unsubscribe
	// address (as a mailto: unsubscribe).
	tests := map[string][2]string{
		"altered":                 {string(altered), string(altered)},
		"another secret's":        {foreign, foreign},
		"an unknown subscriber's": {unknown, unknown},
		"the other purpose's":     {unsubTag, tag},
		"garbage":                 {"zzzz-not-a-tag", "zzzz-not-a-tag"},
	}
	for name, tags := range tests {
		t.Run(name, func(t *testing.T) {
			addr := base + "+" + tags[0] + "@" + domain
			if err := w.deliver(t, addr, dsnFor(t, addr, email, "5.0.0")); err != nil {
				t.Fatalf("answered %v, want 250 like any well-formed mail", err)
			}
			unsub := "unsubscribe+" + tags[1] + "@" + domain
			if err := w.deliver(t, unsub, []byte("Subject: unsubscribe\r\n\r\n")); err != nil {
				t.Fatalf("answered %v", err)
			}
			w.checkOnly(t, -1, "")
		})
	}
	// No tag at all: nobody is named.
	if err := w.deliver(t, "bounces@"+domain, dsnFor(t, "bounces@"+domain, email, "5.0.0")); err != nil {
		t.Fatal(err)
	}
	if err := w.deliver(t, "unsubscribe@"+domain, []byte("Subject: unsubscribe\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	w.checkOnly(t, -1, "")
	if events, _, _ := w.store.FeedbackEvents(context.Background(), "", "", 10); len(events) != 0 {
		t.Errorf("forged reports were kept: %+v", events)
	}
	// One log line per report, saying why it was ignored.
	logs := w.logs.String()
	if n, forged := strings.Count(logs, "\n"), strings.Count(logs, "level=WARN msg=\"Ignoring a report whose tag is forged, altered or unknown\""); n != 12 || forged != 9 || strings.Contains(logs, "applied") {
		t.Errorf("%d log lines, %d about forged tags, want 12 and 9:\n%s", n, forged, logs)
	}
}

func TestListenerRefusals(t *testing.T) {
	w := newWorld(t, 2)
	var se *smtp.SMTPError
	err := w.deliver(t, "postmaster@news.example.com", []byte("Subject: hi\r\n\r\nhello\r\n"))
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Errorf("another address: %v, want 550 5.1.1", err)
	}
	err = w.deliver(t, "bounces@elsewhere.example.com", []byte("Subject: hi\r\n\r\nhello\r\n"))
	if !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("another domain: %v, want 550", err)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 1100)
	err = w.deliver(t, "bounces@news.example.com", []byte(big))
	if !errors.As(err, &se) || se.Code != 552 {
		t.Errorf("a message over 1 MB: %v, want 552", err)
	}
	if err := w.deliver(t, "bounces@news.example.com", []byte("not a header\r\n\r\nbody")); err != nil {
		t.Errorf("malformed mail: %v, want 250", err)
	}
	w.checkOnly(t, -1, "")
}

func mustDay(t *testing.T, s string) (d time.Time) {
	t.Helper()
	d, err := digest.ParseDay(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// With a certificate the listener offers STARTTLS, and a report sent over
// it is applied like any other.
func TestListenerSTARTTLS(t *testing.T) {
	w := newWorld(t, 2)
	sent := w.sendEdition(t, "2026-11-27")
	serverTLS, roots := selfSigned(t)
	l := feedback.NewListener(w.svc, feedback.ListenerConfig{TLS: serverTLS})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go l.Serve(ln)
	t.Cleanup(func() { l.Shutdown(context.Background()) })
	c, err := smtp.DialStartTLS(ln.Addr().String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("not encrypted")
	}
	rp := sent[w.emails[0]].returnPath
	if err := c.SendMail("", []string{rp}, bytes.NewReader(dsnFor(t, rp, w.emails[0], "5.1.1"))); err != nil {
		t.Fatal(err)
	}
	w.checkOnly(t, 0, digest.Bounced)
}

// Redis away: the listener answers 451 so that the sender tries again,
// and the mailbox keeps what it could not store.
func TestReportsWaitForRedis(t *testing.T) {
	w := newWorld(t, 2)
	sent := w.sendEdition(t, "2026-11-27")
	box := startIMAP(t, nil)
	rp := sent[w.emails[0]].returnPath
	box.add(t, dsnFor(t, rp, w.emails[0], "5.0.0"))
	w.rdb.Close()
	var se *smtp.SMTPError
	if err := w.deliver(t, rp, dsnFor(t, rp, w.emails[0], "5.0.0")); !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("with Redis away: %v, want 451", err)
	}
	m, _ := feedback.ParseMailbox("imap://bounces:s3cret@" + box.addr + "/INBOX?tls=none")
	if _, err := feedback.NewPoller(w.svc, m, nil, nil).Poll(context.Background()); err == nil {
		t.Error("a pass with Redis away reports no error")
	}
	if got := box.count(t, "INBOX"); got != 1 {
		t.Errorf("INBOX holds %d, want the 1 report not stored", got)
	}
}

// Auto-replies, reports about mail sent before the subscriber subscribed,
// and reports about mail older than the reports kept change nothing.
func TestReportsThatChangeNothing(t *testing.T) {
	w := newWorld(t, 3) // subscribed on 2026-11-01
	sent := w.sendEdition(t, "2026-11-27")
	rp := sent[w.emails[0]].returnPath
	auto := strings.ReplaceAll(fixture(t, "plain-autoreply.eml"), "\n", "\r\n")
	if err := w.deliver(t, rp, []byte(auto)); err != nil {
		t.Fatal(err)
	}
	for _, sentAt := range []time.Time{time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC), time.Now().AddDate(0, 0, -90)} {
		old, err := feedback.NewAddresses("bounces@news.example.com", "", w.signer, func() time.Time { return sentAt })
		if err != nil {
			t.Fatal(err)
		}
		rp := old.ReturnPath(2, sentAt.Format("2006-01-02"))
		if err := w.deliver(t, rp, dsnFor(t, rp, w.emails[1], "5.0.0")); err != nil {
			t.Fatal(err)
		}
	}
	w.checkOnly(t, -1, "")
	if evs, _, _ := w.store.FeedbackEvents(context.Background(), "", "", 10); len(evs) != 0 {
		t.Errorf("kept %+v", evs)
	}
	for _, why := range []string{"reports no failure", "sent before the subscriber subscribed again", "older than the reports kept"} {
		if !strings.Contains(w.logs.String(), why) {
			t.Errorf("no log line says %q:\n%s", why, w.logs.String())
		}
	}
}
