package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// outcome records what sending to sub did; see Delivery semantics in
// DESIGN.md. Writes use a context that outlives the run: a message the
// server accepted must reach the ledger even if the run is stopping.
func (r *run) outcome(ctx context.Context, sub digest.Subscriber, err error) string {
	en := r.en
	bg := context.WithoutCancel(ctx)
	now := en.opts.Now()
	record := func(outcome string) {
		_, _, rerr := retry(bg, func() (struct{}, int64, error) {
			return struct{}{}, 0, en.ledger.RecordSend(bg, r.edition, sub.ID, outcome, en.opts.Now())
		})
		if rerr != nil {
			r.log.Error("Unable to record a delivery", slog.Int64("subscriber", sub.ID), slog.String("outcome", outcome), slog.Any("error", rerr))
		}
	}
	// retryLater queues sub again: with backoff after a temporary failure,
	// at once (backoff false) when the run stops before sending it.
	retryLater := func(backoff bool) {
		base := time.Duration(0)
		if backoff {
			base = en.opts.RetryBase
		}
		_, _, rerr := retry(bg, func() (int, int64, error) {
			n, err := en.ledger.ScheduleRetry(bg, r.edition, sub.ID, now, base, en.opts.RetryMax)
			return n, 0, err
		})
		if rerr != nil {
			// Unrecorded, the subscriber would be passed by: stop the run
			// before its batch counts as handled.
			r.log.Error("Unable to queue a retry", slog.Int64("subscriber", sub.ID), slog.Any("error", rerr))
			r.stop(fmt.Errorf("mailer: queue a retry: %w", rerr))
		}
	}
	if err == nil {
		r.consecutive.Store(0)
		record("sent")
		return "sent"
	}
	var se *SMTPError
	switch {
	case errors.Is(err, ErrInvalidMessage):
		r.log.Warn("Cannot build a message for a subscriber", slog.Int64("subscriber", sub.ID), slog.Any("error", err))
		record("failed")
		return "failed"
	case errors.As(err, &se) && !se.Temporary && strings.HasPrefix(se.Enhanced, "5.7."):
		retryLater(false)
		r.stop(&pauseError{reason: "the mail server blocked sending by policy: " + se.Error()})
		return "paused"
	case errors.As(err, &se) && IsBounce(se):
		record("bounced")
		if _, uerr := en.recipients.Bounce(bg, sub.ID, now); uerr != nil {
			r.log.Error("Unable to mark a subscriber bounced", slog.Int64("subscriber", sub.ID), slog.Any("error", uerr))
		}
		r.log.Info("Bounced", slog.Int64("subscriber", sub.ID), slog.Int("code", se.Code), slog.String("enhanced", se.Enhanced))
		return "bounced"
	case errors.As(err, &se) && !se.Temporary:
		// AUTH, STARTTLS, MAIL FROM…: the sender's problem, not the reader's.
		retryLater(false)
		r.stop(&pauseError{reason: "the mail server refused the sender: " + se.Error()})
		return "paused"
	case ctx.Err() != nil:
		retryLater(false) // stopping: the next run sends it
		return "retry"
	}
	n := r.consecutive.Add(1)
	if int(n) >= en.opts.MaxConsecutiveFailures {
		retryLater(false)
		r.stop(&pauseError{reason: fmt.Sprintf("%d messages in a row failed; the last: %v", n, err)})
		return "paused"
	}
	retryLater(true)
	r.log.Debug("Temporary failure; will retry", slog.Int64("subscriber", sub.ID), slog.Any("error", err))
	return "retry"
}

// IsBounce tells a permanent refusal of the recipient — the address does
// not exist or cannot take mail: 5.1.x and 5.2.x at RCPT TO (or DATA),
// except 5.1.7/5.1.8 (the sender's address) and 5.2.3 (message too big) —
// from one that is the sender's problem, which pauses the job instead: a
// relay refusal, an oversized message, a bad sender would otherwise mark
// the whole audience bounced.
func IsBounce(se *SMTPError) bool {
	if se.Temporary || (se.Command != "RCPT TO" && se.Command != "DATA") {
		return false
	}
	switch {
	case se.Enhanced == "5.1.7", se.Enhanced == "5.1.8", se.Enhanced == "5.2.3":
		return false
	case strings.HasPrefix(se.Enhanced, "5.1."), strings.HasPrefix(se.Enhanced, "5.2."):
		return true
	}
	return false
}

// retry runs op until it succeeds, ctx ends, or 30 s of failures pass:
// Redis may be restarting.
func retry[T any](ctx context.Context, op func() (T, int64, error)) (T, int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	wait := 50 * time.Millisecond
	for {
		v, n, err := op()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return v, n, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return v, n, err
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func retryHandled(ctx context.Context, l Ledger, edition string, from, to int64) (func(int64) bool, func(int64) bool, error) {
	type pair struct{ d, f func(int64) bool }
	p, _, err := retry(ctx, func() (pair, int64, error) {
		d, f, err := l.Handled(ctx, edition, from, to)
		return pair{d, f}, 0, err
	})
	return p.d, p.f, err
}
