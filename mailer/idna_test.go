package mailer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// TestInternationalAddresses: a domain beyond ASCII goes out as A-labels;
// a local part beyond ASCII goes with SMTPUTF8 when the server offers it,
// and otherwise fails alone with a clear reason.
func TestInternationalAddresses(t *testing.T) {
	msg := []byte("From: news@example.com\r\nTo: x@example.com\r\nSubject: x\r\n\r\nhello\r\n")
	for _, offer := range []bool{false, true} {
		mail := smtptest.StartWith(t, smtptest.Options{SMTPUTF8: offer})
		smtp, err := mailer.NewSMTP(mail.URL(), mailer.SMTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := smtp.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Send(context.Background(), "news@example.com", "leser@bücher.example", msg); err != nil {
			t.Fatalf("SMTPUTF8 offered %v: an IDN domain: %v", offer, err)
		}
		if got := mail.Received("leser@xn--bcher-kva.example"); got != 1 {
			t.Errorf("SMTPUTF8 offered %v: the A-label address got %d messages (%v)", offer, got, mail.Recipients())
		}
		err = conn.Send(context.Background(), "news@example.com", "jürgen@example.com", msg)
		if offer {
			if err != nil || mail.Received("jürgen@example.com") != 1 {
				t.Errorf("a UTF-8 local part with SMTPUTF8: %v, %v", err, mail.Recipients())
			}
		} else if !errors.Is(err, mailer.ErrInvalidMessage) || !strings.Contains(err.Error(), "SMTPUTF8") {
			t.Errorf("a UTF-8 local part without SMTPUTF8: %v, want a refusal naming SMTPUTF8", err)
		}
		// The connection still carries the next message.
		if err := conn.Send(context.Background(), "news@example.com", "plain@example.com", msg); err != nil {
			t.Errorf("after that: %v", err)
		}
		conn.Close()
	}
}

// TestEngineNonASCIILocalPartFailsAlone: in a send, such a recipient is
// failed for the edition (not bounced) and the others get it.
func TestEngineNonASCIILocalPartFailsAlone(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 20)
	if _, err := b.store.ImportSubscribers(ctx, []digest.Subscriber{{Email: "jürgen@example.com", Status: digest.Active, Format: digest.FormatHTML}}); err != nil {
		t.Fatal(err)
	}
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 20 || job.Failed != 1 || job.Bounced != 0 {
		t.Fatalf("job: %+v", job)
	}
	b.checkOnce(t, 20, nil)
	if sub, _ := b.store.SubscriberByEmail(ctx, "jürgen@example.com"); sub.Status != digest.Active {
		t.Errorf("the recipient is %s", sub.Status)
	}
}
