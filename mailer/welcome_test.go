package mailer_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// welcomeSubscriber returns the bench's subscriber i, as stored.
func welcomeSubscriber(t *testing.T, b *bench, i int) digest.Subscriber {
	t.Helper()
	sub, err := b.store.SubscriberByEmail(context.Background(), subscriberAddr(i))
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// TestWelcomerSendsOnceThroughTheLedger: the welcome mail goes to the new
// subscriber alone, once, and the edition's own send then skips them.
func TestWelcomerSendsOnceThroughTheLedger(t *testing.T) {
	b := newBench(t, 3)
	ctx := context.Background()
	w := mailer.NewWelcomer(b.store, links{}, b.opener, b.digestF, time.Now)
	sub := welcomeSubscriber(t, b, 1)

	sent, err := w.Send(ctx, b.edition, sub)
	if err != nil || !sent {
		t.Fatalf("first Send = %v, %v; want true, nil", sent, err)
	}
	msgs := b.smtp.WaitFor(t, 1, 5*time.Second)
	if got := msgs[0].Parsed(t).Header.Get("To"); !strings.Contains(got, subscriberAddr(1)) {
		t.Errorf("welcome mail To: %q, want %s", got, subscriberAddr(1))
	}
	// The ledger knows: neither a second welcome nor the edition's send
	// mails them again (a range of one id, [id, id+1), must find them).
	sent, err = w.Send(ctx, b.edition, sub)
	if err != nil || sent {
		t.Fatalf("second Send = %v, %v; want false, nil", sent, err)
	}
	b.send(t, b.engine("a", mailer.EngineOptions{}))
	b.checkOnce(t, 3, nil)
}

// TestWelcomerSendsNothingItCannot: each failure before the server accepts
// the message is returned, mails nobody and leaves the subscriber out of
// the ledger, so the edition's send still reaches them.
func TestWelcomerSendsNothingItCannot(t *testing.T) {
	ctx := context.Background()
	renderErr := errors.New("template broken")
	tests := []struct {
		name string
		// welcomer builds the Welcomer that fails, and edits the edition.
		welcomer func(b *bench, e *digest.Edition) *mailer.Welcomer
		want     func(error) bool
	}{
		{"empty edition", func(b *bench, e *digest.Edition) *mailer.Welcomer {
			e.Page.Headlines = nil
			return mailer.NewWelcomer(b.store, links{}, b.opener, b.digestF, time.Now)
		}, func(err error) bool { return errors.Is(err, mailer.ErrEmptyEdition) }},
		{"edition cannot be rendered", func(b *bench, _ *digest.Edition) *mailer.Welcomer {
			failing := func(digest.Edition) (*mailer.Digest, error) { return nil, renderErr }
			return mailer.NewWelcomer(b.store, links{}, b.opener, failing, time.Now)
		}, func(err error) bool { return errors.Is(err, renderErr) }},
		{"unsubscribe link unfit for a header", func(b *bench, _ *digest.Edition) *mailer.Welcomer {
			return mailer.NewWelcomer(b.store, badLinks{}, b.opener, b.digestF, time.Now)
		}, func(err error) bool { return errors.Is(err, mailer.ErrInvalidMessage) }},
		{"mail server unreachable", func(b *bench, _ *digest.Edition) *mailer.Welcomer {
			return mailer.NewWelcomer(b.store, links{}, unreachableSMTP(t), b.digestF, time.Now)
		}, func(err error) bool {
			var se *mailer.SMTPError
			return errors.As(err, &se) && se.Command == "CONNECT" && se.Temporary &&
				strings.HasPrefix(err.Error(), "mailer: welcome: ")
		}},
		{"recipient refused", func(b *bench, _ *digest.Edition) *mailer.Welcomer {
			b.refuse(func(i int) error {
				if i == 1 {
					return noSuchUser
				}
				return nil
			})
			return mailer.NewWelcomer(b.store, links{}, b.opener, b.digestF, time.Now)
		}, func(err error) bool {
			var se *mailer.SMTPError
			return errors.As(err, &se) && se.Command == "RCPT TO" && se.Code == 550
		}},
	}
	b := newBench(t, 2) // one for all: none of them may send anything
	sub := welcomeSubscriber(t, b, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer b.smtp.RefuseRecipients(nil)
			e := b.edition
			w := tt.welcomer(b, &e)
			sent, err := w.Send(ctx, e, sub)
			if sent || !tt.want(err) {
				t.Fatalf("Send = %v, %v; want false and the failure", sent, err)
			}
			if n := len(b.smtp.Messages()); n != 0 {
				t.Errorf("%d messages accepted, want none", n)
			}
			delivered, _, err := b.store.Handled(ctx, b.edition.ID, sub.ID, sub.ID+1)
			if err != nil {
				t.Fatal(err)
			}
			if delivered(sub.ID) {
				t.Error("the ledger says the subscriber has the edition")
			}
		})
	}
}

// TestWelcomerLedgerUnreachable: without the ledger the Welcomer cannot
// know whether the subscriber has the edition, so it sends nothing.
func TestWelcomerLedgerUnreachable(t *testing.T) {
	b := newBench(t, 1)
	sub := welcomeSubscriber(t, b, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := mailer.NewWelcomer(b.store, links{}, b.opener, b.digestF, time.Now)
	sent, err := w.Send(ctx, b.edition, sub)
	if sent || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, %v; want false, context.Canceled", sent, err)
	}
	if n := len(b.smtp.Messages()); n != 0 {
		t.Errorf("%d messages accepted, want none", n)
	}
}

// badLinks gives an unsubscribe link that cannot stand in a header.
type badLinks struct{ links }

func (badLinks) UnsubscribeURL(int64) string { return "javascript:alert(1)" }

// unreachableSMTP is an Opener for a port that was free a moment ago.
func unreachableSMTP(t *testing.T) mailer.Opener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s, err := mailer.NewSMTP("smtp://"+addr+"?tls=none&timeout=2s", mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
