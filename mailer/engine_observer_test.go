package mailer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// observer counts the outcomes the engine reports.
type observer struct {
	mu       sync.Mutex
	outcomes map[string]int
	untimed  int // "sent" reported without the time the transport took
}

func (o *observer) Message(outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.outcomes == nil {
		o.outcomes = map[string]int{}
	}
	o.outcomes[outcome]++
	if outcome == "sent" && took <= 0 {
		o.untimed++
	}
}

func (o *observer) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.outcomes[outcome]
}

// TestEngineObserverHearsEveryMessage: the observer (metrics) hears one
// outcome per message, with the time a sent one took.
func TestEngineObserverHearsEveryMessage(t *testing.T) {
	b := newBench(t, 20)
	b.refuse(func(i int) error {
		if i == 3 {
			return noSuchUser
		}
		return nil
	})
	var obs observer
	job := b.send(t, b.engine("a", mailer.EngineOptions{Observer: &obs}))
	if job.State != digest.SendDone || job.Sent != 19 || job.Bounced != 1 {
		t.Fatalf("job: %+v", job)
	}
	if sent, bounced := obs.count("sent"), obs.count("bounced"); sent != 19 || bounced != 1 {
		t.Errorf("observer heard %d sent, %d bounced; want 19, 1 (all: %v)", sent, bounced, obs.outcomes)
	}
	if obs.untimed != 0 {
		t.Errorf("%d sent messages reported without the time they took", obs.untimed)
	}
}

// TestEngineUnreachableServer: a mail server that cannot be reached fails
// every message at connecting: each is queued for a retry (the observer
// hears of each), and after MaxConsecutiveFailures in a row the job
// pauses. Resumed with the server back, everyone gets the edition once.
func TestEngineUnreachableServer(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 30)
	working := b.opener
	b.opener = unreachableSMTP(t)
	var obs observer
	job := b.send(t, b.engine("a", mailer.EngineOptions{Connections: 1, MaxConsecutiveFailures: 5, Observer: &obs}))
	if job.State != digest.SendPaused || !strings.Contains(job.Reason, "5 messages in a row failed") ||
		!strings.Contains(job.Reason, "cannot connect") {
		t.Fatalf("job: %+v", job)
	}
	if retries, paused, sent := obs.count("retry"), obs.count("paused"), obs.count("sent"); retries != 4 || paused != 1 || sent != 0 {
		t.Errorf("observer heard %d retry, %d paused, %d sent; want 4, 1, 0", retries, paused, sent)
	}

	b.opener = working
	if ok, err := b.store.SetSendState(ctx, b.edition.ID, digest.SendQueued, "", time.Now(), digest.SendPaused); !ok || err != nil {
		t.Fatalf("resume: %v %v", ok, err)
	}
	job = b.send(t, b.engine("b", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 30 {
		t.Fatalf("after resuming: %+v", job)
	}
	b.checkOnce(t, 30, nil)
}

// TestEngineEditionThatCannotBeRendered: an edition that cannot be made
// into mail pauses its job saying why (another try would fail the same
// way), and nothing is sent.
func TestEngineEditionThatCannotBeRendered(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 5)
	b.digestF = func(digest.Edition) (*mailer.Digest, error) { return nil, errors.New("template broken") }
	en := b.engine("a", mailer.EngineOptions{})
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	_, err := en.Run(ctx, b.edition)
	if err == nil || !strings.Contains(err.Error(), "template broken") {
		t.Fatalf("Run = %v, want the rendering error", err)
	}
	job, err := b.store.SendJob(ctx, b.edition.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != digest.SendPaused || job.Reason != "the edition cannot be rendered for mail: template broken" {
		t.Errorf("job: %+v, want paused saying the edition cannot be rendered", job)
	}
	if n := len(b.smtp.Messages()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

// syncBuffer is a bytes.Buffer safe for the engine's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEngineCleanSendLogsNoWarning: a send where every message is
// accepted and recorded, or bounced as an ordinary list's few are, logs
// nothing at warning level or above, so that an admin's alert on errors
// means something.
func TestEngineCleanSendLogsNoWarning(t *testing.T) {
	b := newBench(t, 50)
	b.refuse(func(i int) error {
		if i == 7 {
			return noSuchUser
		}
		return nil
	})
	var logged syncBuffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	job := b.send(t, b.engine("a", mailer.EngineOptions{Logger: logger}))
	if job.State != digest.SendDone || job.Sent != 49 || job.Bounced != 1 {
		t.Fatalf("job: %+v", job)
	}
	if s := logged.String(); s != "" {
		t.Errorf("a clean send logged:\n%s", s)
	}
}
