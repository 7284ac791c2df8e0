package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// breakerWindow is how many of the last recipients tried the bounce
// breaker looks at.
const breakerWindow = 200

// DefaultBounceBreaker is the share of permanent refusals among the last
// 200 recipients tried above which a send pauses.
const DefaultBounceBreaker = 0.20

// holdFor is when a held refusal (in Redis, a retry due then) is tried
// again if the process dies while holding it: the refusal is neither lost
// nor applied.
const holdFor = 10 * time.Minute

// heldRefusal is a permanent refusal of one recipient that is not applied
// yet: while it is in the breaker's window, it may turn out to be the
// relay's fault rather than the reader's.
type heldRefusal struct {
	id      int64
	outcome string // "bounced" or "failed"
	reply   string // the server's reply, for the log
}

// breaker is the bounce breaker: it watches the last 200 recipients tried
// and trips when more than limit of them were refused permanently — a
// relay refusing everyone (a wrong account, a misconfigured relay) looks
// like that, a real list does not. Refusals are held while in the window;
// when one leaves it without a trip, it is applied (the subscriber
// bounced, or failed for this edition). When the breaker trips, those held
// are queued again at once, so that a resumed send tries them again and a
// cancelled one forgets them: nobody is bounced by a relay's mistake.
type breaker struct {
	limit int // refusals in the window above which it trips

	mu      sync.Mutex
	ring    [breakerWindow]*heldRefusal // nil: sent (or temporary failure); else a refusal
	tried   [breakerWindow]bool         // which slots are filled
	next    int                         // the slot the next try goes to
	refused int                         // refusals in the window
	n       int                         // tries in the window
	tripped bool
}

// newBreaker returns a breaker tripping when more than share (0 < share
// ≤ 1) of the window is refused.
func newBreaker(share float64) *breaker {
	if share <= 0 {
		share = DefaultBounceBreaker
	}
	return &breaker{limit: int(share*breakerWindow + 1e-9)}
}

// record adds one recipient tried: refused when r is not nil. It returns
// the refusal that left the window (to apply), whether this try tripped the
// breaker and, then, the held refusals to queue again. After a trip every
// refusal comes back as one to queue again.
func (b *breaker) record(r *heldRefusal) (apply *heldRefusal, tripped bool, requeue []*heldRefusal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tripped {
		if r != nil {
			requeue = append(requeue, r)
		}
		return nil, false, requeue
	}
	if b.tried[b.next] {
		apply = b.ring[b.next]
		if apply != nil {
			b.refused--
		}
		b.n--
	}
	b.ring[b.next], b.tried[b.next] = r, true
	b.next = (b.next + 1) % breakerWindow
	b.n++
	if r != nil {
		b.refused++
	}
	if b.refused > b.limit {
		b.tripped = true
		for i, h := range b.ring {
			if h != nil {
				requeue = append(requeue, h)
				b.ring[i] = nil
			}
		}
		return apply, true, requeue
	}
	return apply, false, nil
}

// rate describes the window for a pause reason: "41 of the last 97
// recipients".
func (b *breaker) rate() (refused, tried int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused, b.n
}

// drain takes every refusal still held, for the end of a run.
func (b *breaker) drain() []*heldRefusal {
	b.mu.Lock()
	defer b.mu.Unlock()
	var held []*heldRefusal
	for i, h := range b.ring {
		if h != nil {
			held = append(held, h)
			b.ring[i] = nil
		}
	}
	return held
}

// hold notes a permanent refusal of sub in the breaker and in Redis (a
// retry due after holdFor, should this process die holding it), applies
// the one leaving the window, and pauses the job if the breaker trips.
func (r *run) hold(ctx context.Context, sub digest.Subscriber, outcome string, se *SMTPError) {
	h := &heldRefusal{id: sub.ID, outcome: outcome, reply: se.Error()}
	r.queueRetry(ctx, sub.ID, r.en.opts.Now().Add(holdFor))
	apply, tripped, requeue := r.breaker.record(h)
	if tripped {
		// Stop the other connections first: queueing the held ones again
		// takes a moment.
		refused, tried := r.breaker.rate()
		r.stop(&pauseError{reason: fmt.Sprintf(
			"the bounce breaker tripped: %d of the last %d recipients were refused permanently (%.0f%%, more than the %.0f%% allowed); "+
				"nobody was marked bounced for them and they are tried again on resume. Check the relay and the account. The last refusal: %s",
			refused, tried, 100*float64(refused)/float64(tried), 100*float64(r.breaker.limit)/breakerWindow, se.Error())})
	}
	if apply != nil {
		r.applyRefusal(ctx, apply)
	}
	for _, q := range requeue {
		r.queueRetry(ctx, q.id, r.en.opts.Now())
	}
}

// tried notes a recipient tried without a permanent refusal, and applies
// the refusal that leaves the window.
func (r *run) tried(ctx context.Context) {
	if apply, _, _ := r.breaker.record(nil); apply != nil {
		r.applyRefusal(ctx, apply)
	}
}

// settleHeld ends the hold of every refusal still in the window at the
// end of a run: applied, unless the run paused (then they are queued to be
// tried again at once, as when the breaker trips).
func (r *run) settleHeld(ctx context.Context, paused bool) {
	for _, h := range r.breaker.drain() {
		if paused {
			r.queueRetry(ctx, h.id, r.en.opts.Now())
		} else {
			r.applyRefusal(ctx, h)
		}
	}
}

// applyRefusal records a refusal that left the window: the subscriber is
// bounced (5.1.x, 5.2.x) or failed for this edition.
func (r *run) applyRefusal(ctx context.Context, h *heldRefusal) {
	bg := context.WithoutCancel(ctx)
	r.record(bg, h.id, h.outcome)
	if h.outcome == "bounced" {
		if _, err := r.en.recipients.Bounce(bg, h.id, r.en.opts.Now()); err != nil {
			r.log.Error("Unable to mark a subscriber bounced", slog.Int64("subscriber", h.id), slog.Any("error", err))
		}
		r.log.Info("Bounced", slog.Int64("subscriber", h.id), slog.String("reply", h.reply))
		return
	}
	r.log.Warn("Refused for this edition; not retried", slog.Int64("subscriber", h.id), slog.String("reply", h.reply))
}
