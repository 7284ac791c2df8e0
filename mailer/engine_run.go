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
	holder      string // this run's name in chunk leases
	log         *slog.Logger
	stop        context.CancelCauseFunc
	tasks       chan task
	limiter     *rate.Limiter // this process's pace, without a Pacer
	consecutive atomic.Int64
	chunk       atomic.Int64 // the chunk held, -1 for none
	sent        atomic.Int64 // messages this run got accepted
	breaker     *breaker
}

type task struct {
	sub  digest.Subscriber
	done *sync.WaitGroup
}

// feed claims chunks of the audience one after another and hands their
// subscribers not yet handled to the workers, marking a chunk done only
// once its every message is handled (delivered, failed, or queued for a
// retry); between chunks, and once none is left to claim, it sends the
// retries that fell due. It returns nil when the job is done, whichever
// sender finished it.
func (r *run) feed(ctx context.Context) error {
	en := r.en
	job, _, err := retry(ctx, func() (digest.SendJob, int64, error) {
		j, err := en.ledger.SendJob(ctx, r.edition)
		return j, 0, err
	})
	if err != nil {
		return err
	}
	for {
		if ctx.Err() != nil {
			return r.cause(ctx)
		}
		type claim struct {
			c    int64
			ok   bool
			wait time.Time
		}
		cl, _, err := retry(ctx, func() (claim, int64, error) {
			c, ok, wait, err := en.ledger.ClaimChunk(ctx, r.edition, r.holder, r.epoch, en.opts.Now(), en.opts.Lease)
			if errors.Is(err, digest.ErrNotHolder) {
				return claim{}, 0, nil // not a Redis failure: do not retry
			}
			return claim{c, ok, wait}, 0, err
		})
		switch {
		case err != nil:
			return err
		case cl.ok:
			if err := r.sendChunk(ctx, job, cl.c); err != nil {
				return err
			}
			continue
		case cl.wait.IsZero() && ctx.Err() == nil:
			// Stopped (-2) or every chunk done: look which.
			if j, err := en.ledger.SendJob(ctx, r.edition); err == nil && (j.State != digest.SendRunning || j.Epoch != r.epoch) {
				if j.State == digest.SendDone && j.Epoch == r.epoch {
					return nil
				}
				return errLeaseLost
			}
		}
		// No chunk left to claim here: the refusals still held are
		// applied now (not when their hold in Redis ends), so that the job
		// can finish.
		if ctx.Err() == nil {
			r.settleHeld(ctx, false)
		}
		next, err := r.retryPass(ctx)
		if err != nil {
			return err
		}
		now := en.opts.Now()
		if !next.IsZero() && !next.After(now) {
			continue // more retries due
		}
		done, _, err := retry(ctx, func() (bool, int64, error) {
			done, err := en.ledger.FinishSendJob(ctx, r.edition, r.epoch, now)
			return done, 0, err
		})
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		// Other senders hold the last chunks, or retries wait: look again
		// when one may be free, at least every second (a sender that dies
		// leaves its chunk when its lease ends).
		wake := now.Add(time.Second)
		for _, t := range []time.Time{next, cl.wait} {
			if !t.IsZero() && t.Before(wake) {
				wake = t
			}
		}
		select {
		case <-time.After(max(wake.Sub(now), 10*time.Millisecond)):
		case <-ctx.Done():
			return r.cause(ctx)
		}
	}
}

// cause is why the run's context ended: errJobDone (another sender
// finished the job) reads as success.
func (r *run) cause(ctx context.Context) error {
	err := context.Cause(ctx)
	if errors.Is(err, errJobDone) {
		return nil
	}
	return err
}

// sendChunk sends chunk c to its active subscribers not yet handled and
// marks it done; stopped short, it releases the chunk for another sender.
func (r *run) sendChunk(ctx context.Context, job digest.SendJob, c int64) error {
	en := r.en
	r.chunk.Store(c)
	err := func() error {
		from, to := job.ChunkIDs(c)
		subs, _, err := retry(ctx, func() ([]digest.Subscriber, int64, error) {
			subs, err := en.recipients.SubscriberRange(ctx, digest.Active, from, to)
			return subs, 0, err
		})
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			delivered, failed, err := retryHandled(ctx, en.ledger, r.edition, from, to)
			if err != nil {
				return err
			}
			todo := subs[:0:0]
			for _, sub := range subs {
				if !delivered(sub.ID) && !failed(sub.ID) {
					todo = append(todo, sub)
				}
			}
			if err := r.dispatch(ctx, todo); err != nil {
				return err
			}
		}
		lost := false
		if _, _, err := retry(ctx, func() (struct{}, int64, error) {
			err := en.ledger.CompleteChunk(ctx, r.edition, r.holder, r.epoch, c, en.opts.Now())
			if errors.Is(err, digest.ErrNotHolder) {
				lost = true
				return struct{}{}, 0, nil
			}
			return struct{}{}, 0, err
		}); err != nil {
			return err
		}
		if lost {
			return errLeaseLost
		}
		return nil
	}()
	r.chunk.Store(-1)
	if err != nil {
		_ = en.ledger.ReleaseChunk(context.WithoutCancel(ctx), r.edition, r.holder, c)
		return err
	}
	// Retries fall due while the audience is fed: send them between
	// chunks, so the first comes within seconds.
	_, err = r.retryPass(ctx)
	return err
}

// retryPass claims the retries due now and sends (or gives up) them; it
// returns when the next one falls due (zero when none waits; now after
// sending some, as more may be due).
func (r *run) retryPass(ctx context.Context) (time.Time, error) {
	en := r.en
	now := en.opts.Now()
	ids, next, err := en.ledger.ClaimRetries(ctx, r.edition, now, en.opts.Lease, en.opts.Batch)
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
	// Those that failed again are queued anew: look again at once.
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
		if err := r.pace(ctx); err != nil {
			t.done.Done()
			continue
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
			err = conn.Send(context.WithoutCancel(ctx), r.d.EnvelopeFrom(sub.ID), sub.Email, msg)
			took = time.Since(start)
		}
		label := r.outcome(ctx, sub, err)
		if label == "sent" {
			r.sent.Add(1)
		}
		if obs := r.en.opts.Observer; obs != nil {
			obs.Message(label, took)
		}
		t.done.Done()
	}
}

// pace waits for the send rate: the one all instances share (Pacer), or
// this process's.
func (r *run) pace(ctx context.Context) error {
	en := r.en
	switch {
	case en.opts.Rate <= 0:
		return nil
	case en.opts.Pacer != nil:
		_, _, err := retry(ctx, func() (struct{}, int64, error) {
			return struct{}{}, 0, en.opts.Pacer.PaceSend(ctx, en.opts.Rate, max(1, int(en.opts.Rate/10)))
		})
		return err
	}
	return r.limiter.Wait(ctx)
}
