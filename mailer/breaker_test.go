package mailer_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

var (
	noSuchUser = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	policy     = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "refused by the recipient's policy"}
)

// refuse makes the bench's server refuse subscriber i with what(i) (nil:
// accept), and counts every RCPT TO it answers.
func (b *bench) refuse(what func(i int) error) *atomic.Int64 {
	var tried atomic.Int64
	b.smtp.RefuseRecipients(func(to string) error {
		tried.Add(1)
		return what(subscriberIndex(to))
	})
	return &tried
}

func subscriberIndex(to string) int {
	to = strings.Trim(to, "<>")
	n := 0
	for _, c := range strings.TrimPrefix(to[:strings.IndexByte(to, '@')], "r") {
		n = n*10 + int(c-'0')
	}
	return n
}

func (b *bench) counts(t *testing.T) map[digest.SubscriberStatus]int64 {
	t.Helper()
	counts, err := b.store.CountSubscribers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// TestEngineRecipientPolicyRefusalFailsThatRecipientOnly: one reader's
// server refusing with 5.7.1 is that reader's business: the job goes on.
func TestEngineRecipientPolicyRefusalFailsThatRecipientOnly(t *testing.T) {
	b := newBench(t, 1000)
	b.refuse(func(i int) error {
		if i == 437 {
			return policy
		}
		return nil
	})
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 999 || job.Failed != 1 || job.Bounced != 0 {
		t.Fatalf("job: %+v", job)
	}
	b.checkOnce(t, 1000, func(i int) bool { return i == 437 })
	if got := b.smtp.Received(subscriberAddr(437)); got != 0 {
		t.Errorf("the refused recipient got %d messages", got)
	}
	sub, err := b.store.SubscriberByEmail(context.Background(), subscriberAddr(437))
	if err != nil || sub.Status != digest.Active {
		t.Errorf("the refused recipient is %s (%v), want still active", sub.Status, err)
	}
}

// TestEngineBreakerStopsARelayRefusingEveryone: a relay answering 5.1.1
// to everyone pauses the send long before a tenth of the audience was
// tried, bounces nobody, and on a fixed relay the resumed send reaches
// everyone exactly once.
func TestEngineBreakerStopsARelayRefusingEveryone(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 1000)
	tried := b.refuse(func(int) error { return noSuchUser })
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendPaused || !strings.Contains(job.Reason, "bounce breaker") || !strings.Contains(job.Reason, "%") {
		t.Fatalf("job: %+v", job)
	}
	if n := tried.Load(); n >= 100 {
		t.Errorf("%d recipients tried before the pause, want fewer than 10%% of 1000", n)
	} else {
		t.Logf("paused after %d recipients tried: %s", n, job.Reason)
	}
	if c := b.counts(t); c[digest.Bounced] != 0 || c[digest.Active] != 1000 || job.Bounced != 0 || job.Failed != 0 {
		t.Fatalf("after the trip: counts %v, job %+v", c, job)
	}

	b.refuse(func(int) error { return nil })
	if ok, err := b.store.SetSendState(ctx, b.edition.ID, digest.SendQueued, "", time.Now(), digest.SendPaused); !ok || err != nil {
		t.Fatalf("resume: %v %v", ok, err)
	}
	job = b.send(t, b.engine("b", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 1000 || job.Failed != 0 {
		t.Fatalf("after resuming on a fixed relay: %+v", job)
	}
	b.checkOnce(t, 1000, nil)
	if c := b.counts(t); c[digest.Bounced] != 0 {
		t.Errorf("%d bounced", c[digest.Bounced])
	}
}

// TestEngineBreakerTripThenCancelBouncesNobody: the refusals a tripped
// breaker saw are forgotten when the job is cancelled.
func TestEngineBreakerTripThenCancelBouncesNobody(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 1000)
	b.refuse(func(int) error { return noSuchUser })
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendPaused {
		t.Fatalf("job: %+v", job)
	}
	if ok, err := b.store.SetSendState(ctx, b.edition.ID, digest.SendCancelled, "cancelled by a test", time.Now(), digest.SendPaused); !ok || err != nil {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	// Another sender coming by finds nothing to do.
	job = b.send(t, b.engine("b", mailer.EngineOptions{}))
	if job.State != digest.SendCancelled || job.Bounced != 0 {
		t.Fatalf("after cancel: %+v", job)
	}
	if c := b.counts(t); c[digest.Bounced] != 0 || c[digest.Active] != 1000 {
		t.Errorf("after cancel: %v", c)
	}
}

// TestEngineTwoPercentHardBounces: an ordinary list's bounces do not trip
// the breaker; they are applied, by the end of the run at the latest.
func TestEngineTwoPercentHardBounces(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 1000)
	b.refuse(func(i int) error {
		if i%50 == 7 {
			return noSuchUser
		}
		return nil
	})
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 980 || job.Bounced != 20 || job.Failed != 20 {
		t.Fatalf("job: %+v", job)
	}
	for i := 7; i < 1000; i += 50 {
		sub, _ := b.store.SubscriberByEmail(ctx, subscriberAddr(i))
		if sub.Status != digest.Bounced {
			t.Errorf("subscriber %d refused 5.1.1 is %s", i, sub.Status)
		}
	}
	b.checkOnce(t, 1000, func(i int) bool { return i%50 == 7 })
}

// TestEngineBreakerThreshold: the share is configurable; 41 refusals in a
// row trip the default 20% (more than 40 of 200), 40 do not.
func TestEngineBreakerThreshold(t *testing.T) {
	for _, tc := range []struct {
		refused int
		share   float64
		want    digest.SendState
	}{
		{40, 0, digest.SendDone},
		{41, 0, digest.SendPaused},
		{41, 0.5, digest.SendDone},
		{11, 0.05, digest.SendPaused},
	} {
		b := newBench(t, 300)
		b.refuse(func(i int) error {
			if i < tc.refused {
				return noSuchUser
			}
			return nil
		})
		// One connection: the recipients are tried in order.
		job := b.send(t, b.engine("a", mailer.EngineOptions{Connections: 1, BounceBreaker: tc.share}))
		if job.State != tc.want {
			t.Errorf("%d refusals, breaker %v: job %+v", tc.refused, tc.share, job)
		}
		if tc.want == digest.SendDone && (job.Bounced != int64(tc.refused) || b.counts(t)[digest.Bounced] != int64(tc.refused)) {
			t.Errorf("%d refusals, breaker %v: %d bounced", tc.refused, tc.share, job.Bounced)
		}
	}
}

// TestEngineBreakerCountsTemporaryReplies: a recipient answered with a
// 4xx reply (greylisting) was tried: it fills the breaker's window like a
// delivery, so a list with ordinary bounces (one in six here, under the
// 20% of any 200 tried) among greylisted recipients does not trip it, and
// everyone greylisted gets the edition on the retry.
func TestEngineBreakerCountsTemporaryReplies(t *testing.T) {
	b := newBench(t, 300)
	greylisted := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again"}
	var mu sync.Mutex
	seen := map[int]bool{}
	b.refuse(func(i int) error {
		if i%6 == 0 {
			return noSuchUser
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[i] {
			seen[i] = true
			return greylisted
		}
		return nil
	})
	job := b.send(t, b.engine("a", mailer.EngineOptions{Connections: 1, MaxConsecutiveFailures: 1 << 30}))
	if job.State != digest.SendDone || job.Sent != 250 || job.Bounced != 50 {
		t.Fatalf("job: %+v, want done with 250 sent and 50 bounced", job)
	}
	b.checkOnce(t, 300, func(i int) bool { return i%6 == 0 })
}

// TestEngineBreakerPauseReason: the pause reason gives the refusals among
// the recipients in the window (the last 200 at most), their share and the
// share allowed.
func TestEngineBreakerPauseReason(t *testing.T) {
	for _, tc := range []struct {
		accepted int // recipients accepted before the refusals start
		want     string
	}{
		{59, "41 of the last 100 recipients were refused permanently (41%, more than the 20% allowed)"},
		{250, "41 of the last 200 recipients were refused permanently ("},
	} {
		b := newBench(t, 300)
		b.refuse(func(i int) error {
			if i >= tc.accepted {
				return noSuchUser
			}
			return nil
		})
		job := b.send(t, b.engine("a", mailer.EngineOptions{Connections: 1}))
		if job.State != digest.SendPaused || !strings.Contains(job.Reason, tc.want) {
			t.Errorf("%d accepted, then refusals: job %+v; want paused saying %q", tc.accepted, job, tc.want)
		}
	}
}
