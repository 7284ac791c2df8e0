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
	if err == nil {
		r.consecutive.Store(0)
		r.record(bg, sub.ID, "sent")
		r.tried(ctx)
		return "sent"
	}
	var se *SMTPError
	isSMTP := errors.As(err, &se)
	switch {
	case errors.Is(err, ErrInvalidMessage):
		r.log.Warn("Cannot send a message to a subscriber", slog.Int64("subscriber", sub.ID), slog.Any("error", err))
		r.record(bg, sub.ID, "failed")
		return "failed"
	case isSMTP && !se.Temporary:
		switch ClassifyRefusal(se) {
		case RecipientBounced:
			r.hold(ctx, sub, "bounced", se)
			return "bounced"
		case RecipientFailed:
			r.hold(ctx, sub, "failed", se)
			return "failed"
		}
		// Greeting, AUTH, TLS, MAIL FROM…: the sender's problem, not the
		// reader's.
		r.queueRetry(ctx, sub.ID, en.opts.Now())
		r.stop(&pauseError{reason: "the mail server refused the sender: " + se.Error()})
		return "paused"
	case ctx.Err() != nil:
		r.queueRetry(ctx, sub.ID, en.opts.Now()) // stopping: the next run sends it
		return "retry"
	}
	if isSMTP && se.Code != 0 {
		r.tried(ctx) // a 4xx reply: the server looked at the recipient
	}
	n := r.consecutive.Add(1)
	if int(n) >= en.opts.MaxConsecutiveFailures {
		r.queueRetry(ctx, sub.ID, en.opts.Now())
		r.stop(&pauseError{reason: fmt.Sprintf("%d messages in a row failed; the last: %v", n, err)})
		return "paused"
	}
	_, _, rerr := retry(bg, func() (int, int64, error) {
		n, err := en.ledger.ScheduleRetry(bg, r.edition, sub.ID, en.opts.Now(), en.opts.RetryBase, en.opts.RetryMax)
		return n, 0, err
	})
	r.retryQueued(sub.ID, rerr)
	r.log.Debug("Temporary failure; will retry", slog.Int64("subscriber", sub.ID), slog.Any("error", err))
	return "retry"
}

// record writes sub's outcome in the ledger.
func (r *run) record(bg context.Context, id int64, outcome string) {
	_, _, err := retry(bg, func() (struct{}, int64, error) {
		return struct{}{}, 0, r.en.ledger.RecordSend(bg, r.edition, id, outcome, r.en.opts.Now())
	})
	if err != nil {
		r.log.Error("Unable to record a delivery", slog.Int64("subscriber", id), slog.String("outcome", outcome), slog.Any("error", err))
	}
}

// queueRetry queues subscriber id to be tried again at at (no backoff
// counted): now when the run stops before sending it.
func (r *run) queueRetry(ctx context.Context, id int64, at time.Time) {
	bg := context.WithoutCancel(ctx)
	_, _, err := retry(bg, func() (int, int64, error) {
		n, err := r.en.ledger.ScheduleRetry(bg, r.edition, id, at, 0, r.en.opts.RetryMax)
		return n, 0, err
	})
	r.retryQueued(id, err)
}

// retryQueued stops the run when a retry could not be queued: unrecorded,
// the subscriber would be passed by, so the batch must not count as
// handled.
func (r *run) retryQueued(id int64, err error) {
	if err != nil {
		r.log.Error("Unable to queue a retry", slog.Int64("subscriber", id), slog.Any("error", err))
		r.stop(fmt.Errorf("mailer: queue a retry: %w", err))
	}
}

// Refusal says whose problem a permanent SMTP refusal is.
type Refusal int

// The kinds of refusal.
const (
	// NotRefused: a temporary failure (4xx, the network), to try again.
	NotRefused Refusal = iota
	// RecipientBounced: the address does not exist or cannot take mail
	// (5.1.x, 5.2.x, or a 5xx without an enhanced code at RCPT TO). The
	// subscriber is bounced.
	RecipientBounced
	// RecipientFailed: this recipient refused this message for good (a
	// policy of theirs, 5.7.1; a message too big for them, 5.2.3, 5.3.4;
	// content, 5.6.x …). Not retried, not bounced.
	RecipientFailed
	// SenderRefused: the sender's problem — a 5xx greeting, EHLO, MAIL
	// FROM, authentication, TLS required but impossible, a bad sender
	// address (5.1.7, 5.1.8) — which is the same for every recipient:
	// the send pauses.
	SenderRefused
)

// ClassifyRefusal says whose problem the failure se is. A permanent
// refusal of one recipient — at RCPT TO, or at the end of DATA (every
// transaction has one recipient) — is that recipient's.
func ClassifyRefusal(se *SMTPError) Refusal {
	if se.Temporary {
		return NotRefused
	}
	if se.Command != "RCPT TO" && se.Command != "DATA" || se.Code == 0 {
		return SenderRefused
	}
	switch {
	case se.Enhanced == "5.1.7", se.Enhanced == "5.1.8":
		return SenderRefused // the sender's address
	case se.Enhanced == "5.2.3":
		return RecipientFailed // message too big: this message, not the address
	case strings.HasPrefix(se.Enhanced, "5.1."), strings.HasPrefix(se.Enhanced, "5.2."):
		return RecipientBounced
	case se.Enhanced == "" && se.Command == "RCPT TO":
		return RecipientBounced
	}
	return RecipientFailed
}

// IsBounce reports whether se says the recipient's address does not exist
// or cannot take mail (ClassifyRefusal's RecipientBounced).
func IsBounce(se *SMTPError) bool { return ClassifyRefusal(se) == RecipientBounced }

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
