package mailer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/smtptest"
)

// fakePaths mints addresses that show what they were made from.
type fakePaths struct{ unsubscribe bool }

func (fakePaths) ReturnPath(id int64, edition string) string {
	return fmt.Sprintf("bounces+%d-%s@bounce.example.com", id, edition)
}

func (p fakePaths) UnsubscribeAddress(id int64, edition string) string {
	if !p.unsubscribe {
		return ""
	}
	return fmt.Sprintf("unsubscribe+%d-%s@bounce.example.com", id, edition)
}

func TestDigestReturnPaths(t *testing.T) {
	cfg := testDigestConfig()
	cfg.UnsubscribeMailbox = "leave@example.com" // replaced by the per-subscriber address
	cfg.ReturnPaths = fakePaths{unsubscribe: true}
	d := newTestDigest(t, sampleEdition(t), cfg)
	for _, id := range []int64{1, 2} {
		if got, want := d.EnvelopeFrom(id), fmt.Sprintf("bounces+%d-2026-11-27@bounce.example.com", id); got != want {
			t.Errorf("EnvelopeFrom(%d) = %q, want %q", id, got, want)
		}
		raw, err := d.Message(testRecipient(id))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := readMessage(t, raw)
		want := fmt.Sprintf("<https://news.example.com/unsubscribe/u%dtoken>, <mailto:unsubscribe+%d-2026-11-27@bounce.example.com?subject=unsubscribe>", id, id)
		if got := msg.Header.Get("List-Unsubscribe"); got != want {
			t.Errorf("List-Unsubscribe = %q, want %q", got, want)
		}
		if got := msg.Header.Get("From"); !strings.Contains(got, "<news@example.com>") {
			t.Errorf("From = %q: the header sender must stay", got)
		}
	}

	// Without an unsubscribe address: no mailto: at all.
	cfg.ReturnPaths = fakePaths{}
	raw, err := newTestDigest(t, sampleEdition(t), cfg).Message(testRecipient(1))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := readMessage(t, raw)
	if got := msg.Header.Get("List-Unsubscribe"); got != "<https://news.example.com/unsubscribe/u1token>" {
		t.Errorf("List-Unsubscribe = %q, want the link alone", got)
	}
	// Without ReturnPaths the envelope sender is From.
	if got := newTestDigest(t, sampleEdition(t), testDigestConfig()).EnvelopeFrom(1); got != "news@example.com" {
		t.Errorf("EnvelopeFrom = %q", got)
	}
}

func TestMessageEnvelopeFrom(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := NewSMTP(srv.URL(), SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := New(testComposer(t), s, nil, nil)
	if err := m.Send(context.Background(), Message{To: "reader@example.org", Subject: "Hi", Text: "Hello",
		EnvelopeFrom: "bounces+abc@bounce.example.com"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)
	if got[0].From != "bounces+abc@bounce.example.com" {
		t.Errorf("MAIL FROM %q", got[0].From)
	}
	if h := got[0].Parsed(t).Header; !strings.Contains(h.Get("From"), "@example.com") || h.Get("EnvelopeFrom") != "" {
		t.Errorf("headers From %q EnvelopeFrom %q", h.Get("From"), h.Get("EnvelopeFrom"))
	}
	for _, bad := range []string{"Name <a@example.com>", "a@example.com\r\nBcc: x@example.com", "é@example.com"} {
		if err := m.Send(context.Background(), Message{To: "reader@example.org", Text: "x", EnvelopeFrom: bad}); err == nil {
			t.Errorf("envelope sender %q accepted", bad)
		}
	}
}
