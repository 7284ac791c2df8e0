package mailer

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/broadsheet-news/broadsheet/digest"
)

// run is one Run's state.
type run struct {
	en          *Engine
	d           *Digest
	edition     string
	epoch       int64
	log         *slog.Logger
	stop        context.CancelCauseFunc
	tasks       chan task
	limiter     *rate.Limiter
	consecutive atomic.Int64
}

type task struct {
	sub  digest.Subscriber
	done *sync.WaitGroup
}

// feed hands every active subscriber not yet handled to the workers, batch
// by batch, moving the cursor only past batches whose every message is
// handled (delivered, failed, or queued for a retry); then it runs the
// retries until none is left or the retry deadline passes.
func (r *run) feed(ctx context.Context) error {
	en := r.en
	job, err := en.ledger.SendJob(ctx, r.edition)
	if err != nil {
		return err
	}
	cursor := job.Cursor
	for {
		page, next, err := retry(ctx, func() ([]digest.Subscriber, int64, error) {
			return en.recipients.Subscribers(ctx, digest.Active, cursor, en.opts.Batch)
		})
		if err != nil {
			return err
		}
		if len(page) > 0 {
			delivered, failed, err := retryHandled(ctx, en.ledger, r.edition, page[0].ID, page[len(page)-1].ID+1)
			if err != nil {
				return err
			}
			todo := page[:0:0]
			for _, sub := range page {
				if !delivered(sub.ID) && !failed(sub.ID) {
					todo = append(todo, sub)
				}
			}
			if err := r.dispatch(ctx, todo); err != nil {
				return err
			}
			cursor = page[len(page)-1].ID + 1
			lost := false
			if _, _, err := retry(ctx, func() (struct{}, int64, error) {
				err := en.ledger.SaveSendCursor(ctx, r.edition, en.opts.Owner, r.epoch, cursor)
				if errors.Is(err, digest.ErrNotHolder) {
					lost = true // not a Redis failure: do not retry
					return struct{}{}, 0, nil
				}
				return struct{}{}, 0, err
			}); err != nil {
				return err
			}
			if lost {
				return errLeaseLost
			}
			// Retries fall due while the audience is fed: send them
			// between batches, so the first comes within seconds.
			if _, err := r.retryPass(ctx); err != nil {
				return err
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	return r.retries(ctx)
}

// retries sends the messages waiting for another try as they fall due,
// until none is left. A subscriber whose first try failed more than
// RetryFor ago is given up.
func (r *run) retries(ctx context.Context) error {
	for {
		next, err := r.retryPass(ctx)
		if err != nil || next.IsZero() {
			return err
		}
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// retryPass sends (or gives up) the retries due now and returns when the
// next one falls due (zero when none waits; now when more are due).
func (r *run) retryPass(ctx context.Context) (time.Time, error) {
	en := r.en
	now := en.opts.Now()
	ids, next, err := en.ledger.DueRetries(ctx, r.edition, now, en.opts.Batch)
	if err != nil || len(ids) == 0 {
		return next, err
	}
	firsts, err := en.ledger.FirstFailures(ctx, r.edition, ids)
	if err != nil {
		return time.Time{}, err
	}
	lo, hi := slices.Min(ids), slices.Max(ids)
	delivered, failed, err := retryHandled(ctx, en.ledger, r.edition, lo, hi+1)
	if err != nil {
		return time.Time{}, err
	}
	var todo []digest.Subscriber
	for i, id := range ids {
		switch {
		case delivered(id) || failed(id):
			// Recorded meanwhile (an overlapping run): just drop the retry.
			if err := en.ledger.RecordSend(ctx, r.edition, id, "failed", now); err != nil {
				return time.Time{}, err
			}
			continue
		case !firsts[i].IsZero() && now.Sub(firsts[i]) > en.opts.RetryFor:
			r.log.Warn("Giving up on a subscriber still refused at the retry deadline", slog.Int64("subscriber", id))
			if err := en.ledger.RecordSend(ctx, r.edition, id, "failed", now); err != nil {
				return time.Time{}, err
			}
			continue
		}
		sub, err := en.recipients.Subscriber(ctx, id)
		if errors.Is(err, digest.ErrNotFound) || (err == nil && sub.Status != digest.Active) {
			// Erased or left meanwhile: not sent, not counted as sent.
			if err := en.ledger.RecordSend(ctx, r.edition, id, "failed", now); err != nil {
				return time.Time{}, err
			}
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		todo = append(todo, sub)
	}
	if err := r.dispatch(ctx, todo); err != nil {
		return time.Time{}, err
	}
	return now, nil
}

// dispatch hands subs to the workers and waits until each is handled
// (sent, failed, or queued for a retry); it returns the run's stop cause
// if the run stopped meanwhile.
func (r *run) dispatch(ctx context.Context, subs []digest.Subscriber) error {
	var batch sync.WaitGroup
	for _, sub := range subs {
		batch.Add(1)
		select {
		case r.tasks <- task{sub: sub, done: &batch}:
		case <-ctx.Done():
			batch.Done()
		}
	}
	batch.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// worker sends tasks over one connection, reopening it when it breaks.
func (r *run) worker(ctx context.Context) {
	var conn Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	buf := make([]byte, 0, 64<<10)
	for t := range r.tasks {
		if ctx.Err() != nil {
			t.done.Done()
			continue
		}
		if conn == nil || conn.Broken() {
			if conn != nil {
				_ = conn.Close()
			}
			c, err := r.en.opener.Open(ctx)
			if err != nil {
				conn = nil
				label := r.outcome(ctx, t.sub, err)
				if obs := r.en.opts.Observer; obs != nil {
					obs.Message(label, 0)
				}
				t.done.Done()
				continue
			}
			conn = c
		}
		if r.limiter != nil {
			if err := r.limiter.Wait(ctx); err != nil {
				t.done.Done()
				continue
			}
		}
		sub := t.sub
		var took time.Duration
		msg, err := r.d.AppendMessage(buf[:0], RecipientOf(sub, r.en.links.UnsubscribeURL(sub.ID), r.en.links.PreferencesURL(sub.ID)))
		if err == nil {
			buf = msg[:0]
			// A transaction under way finishes even when the run stops (a
			// pause, a shutdown): cut short, the server may have taken the
			// message without our knowing, and it would go out twice. The
			// connection's timeouts bound it.
			start := time.Now()
			err = conn.Send(context.WithoutCancel(ctx), r.d.From(), sub.Email, msg)
			took = time.Since(start)
		}
		label := r.outcome(ctx, sub, err)
		if obs := r.en.opts.Observer; obs != nil {
			obs.Message(label, took)
		}
		t.done.Done()
	}
}
