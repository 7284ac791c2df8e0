package mailer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// TestEngineWaitsForASlowFinalReply: a server taking 35 s to answer the
// final dot (more than the 30 s that used to be the limit) gets each
// message once: the wait is RFC 5321's 10 minutes, so nothing is retried.
func TestEngineWaitsForASlowFinalReply(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 35 s for the server")
	}
	const n = 3
	b := newBench(t, n)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: 35 * time.Second})
	en := b.engine("a", mailer.EngineOptions{Connections: n, RetryBase: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	job, err := en.Run(ctx, b.edition)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 35*time.Second {
		t.Fatalf("the send took %v: the server's delay did not apply", took)
	}
	if job.State != digest.SendDone || job.Sent != n || job.Failed != 0 {
		t.Fatalf("job: %+v", job)
	}
	if got := b.smtp.Transactions(); got != n {
		t.Errorf("%d transactions reached the end of DATA, want %d (one per message)", got, n)
	}
	b.checkOnce(t, n, nil)
}

// TestSMTPTimeoutParameterStillBoundsTheFinalReply: ?timeout= overrides
// every step's timeout, the final reply's included.
func TestSMTPTimeoutParameterStillBoundsTheFinalReply(t *testing.T) {
	mail := smtptest.Start(t)
	mail.SetFaults(smtptest.Faults{DataDelay: 3 * time.Second})
	smtp, err := mailer.NewSMTP(mail.URL()+"&timeout=500ms", mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := smtp.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := []byte("From: news@example.com\r\nTo: r@example.com\r\nSubject: x\r\n\r\nhello\r\n")
	start := time.Now()
	err = conn.Send(context.Background(), "news@example.com", "r@example.com", msg)
	var se *mailer.SMTPError
	if !errors.As(err, &se) || !se.Temporary || se.Command != "DATA" || se.Code != 0 {
		t.Fatalf("a reply slower than ?timeout=500ms: %v, want a temporary DATA failure without a reply", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, want about 500ms", took)
	}
}
