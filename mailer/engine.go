package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Ledger keeps send jobs: state, counters, cursor, and which subscribers
// got the edition. store.Store meets it.
type Ledger interface {
	CreateSendJob(ctx context.Context, edition string, total int64, retryFor time.Duration, now time.Time) (digest.SendJob, bool, error)
	SendJob(ctx context.Context, edition string) (digest.SendJob, error)
	SetSendState(ctx context.Context, edition string, state digest.SendState, reason string, now time.Time, from ...digest.SendState) (bool, error)
	AcquireSendLease(ctx context.Context, edition, owner string, epoch int64, now time.Time, ttl time.Duration) (int64, bool, error)
	ReleaseSendLease(ctx context.Context, edition, owner string) error
	Handled(ctx context.Context, edition string, from, to int64) (delivered, failed func(int64) bool, err error)
	RecordSend(ctx context.Context, edition string, id int64, outcome string, now time.Time) error
	ScheduleRetry(ctx context.Context, edition string, id int64, now time.Time, base, maxWait time.Duration) (int, error)
	DueRetries(ctx context.Context, edition string, now time.Time, limit int) ([]int64, time.Time, error)
	GiveUpRetries(ctx context.Context, edition string, now time.Time) (int, error)
	SaveSendCursor(ctx context.Context, edition, owner string, epoch, cursor int64) error
	FirstFailures(ctx context.Context, edition string, ids []int64) ([]time.Time, error)
	ResendFailed(ctx context.Context, edition string, retryFor time.Duration, now time.Time) error
}

// Recipients is the audience. store.Store meets it.
type Recipients interface {
	Subscribers(ctx context.Context, status digest.SubscriberStatus, cursor int64, limit int) ([]digest.Subscriber, int64, error)
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	UpdateSubscriber(ctx context.Context, id int64, change func(*digest.Subscriber) error) (digest.Subscriber, error)
	CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error)
}

// Links signs a subscriber's unsubscribe and preferences links.
// subscription.Service meets it.
type Links interface {
	UnsubscribeURL(id int64) string
	PreferencesURL(id int64) string
}

// SendObserver hears what sending each message did: outcome is "sent",
// "bounced", "failed", "retry" (a temporary failure) or "paused" (the
// sender's problem); took is the time the transport took.
type SendObserver interface {
	Message(outcome string, took time.Duration)
}

// EngineOptions tune the delivery engine.
type EngineOptions struct {
	// Connections is how many SMTP connections send at once (default 10).
	Connections int
	// Rate bounds messages per second over all connections (0: no bound).
	Rate float64
	// RetryFor is how long temporary failures are retried (default 6h);
	// the first retry comes after RetryBase (default 2s), each next one
	// after twice as long, at most RetryMax (default 1m).
	RetryFor, RetryBase, RetryMax time.Duration
	// Lease is how long a sender's hold on a job lasts unless renewed
	// (default 15s): a crashed sender's job is free again after it.
	Lease time.Duration
	// MaxConsecutiveFailures pauses the job when that many messages in a
	// row failed (default 200).
	MaxConsecutiveFailures int
	// Batch is how many subscribers are read at once (default 1000).
	Batch int
	// Owner names this sender in the lease (host and process).
	Owner string
	// Observer, when set, hears of every message's outcome (metrics).
	Observer SendObserver
	Now      func() time.Time
	Logger   *slog.Logger
}

func (o EngineOptions) withDefaults() EngineOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.Connections <= 0 {
		o.Connections = 10
	}
	def(&o.RetryFor, 6*time.Hour)
	def(&o.RetryBase, 2*time.Second)
	def(&o.RetryMax, time.Minute)
	def(&o.Lease, 15*time.Second)
	if o.MaxConsecutiveFailures <= 0 {
		o.MaxConsecutiveFailures = 200
	}
	if o.Batch <= 0 {
		o.Batch = 1000
		if o.Rate > 0 {
			// About two seconds of sending a batch, so that retries (sent
			// between batches) come within seconds even at a slow rate.
			o.Batch = min(max(int(o.Rate*2), 10), 1000)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Engine delivers editions to every active subscriber: exactly once,
// through faults, resumable by any instance. Its job lives in Redis
// (Ledger); a subscriber enters the ledger only after the server accepted
// the message, and one in the ledger is never sent again, so a crash can
// only duplicate the messages in flight (at most Connections), never lose
// one.
type Engine struct {
	ledger     Ledger
	recipients Recipients
	links      Links
	opener     Opener
	digestOf   func(digest.Edition) (*Digest, error)
	opts       EngineOptions
}

// NewEngine returns an Engine. digestOf renders an edition for mailing
// (once per job).
func NewEngine(ledger Ledger, recipients Recipients, links Links, opener Opener,
	digestOf func(digest.Edition) (*Digest, error), opts EngineOptions) *Engine {
	return &Engine{ledger: ledger, recipients: recipients, links: links, opener: opener, digestOf: digestOf, opts: opts.withDefaults()}
}

// ErrEmptyEdition is digest's: an edition without headlines is never sent.
var ErrEmptyEdition = digest.ErrEmptyEdition

// StartJob creates the send job of e (or, with resendFailed, reopens a
// finished one for the subscribers who did not get it) and returns it. A
// job that exists is returned as it is.
func (en *Engine) StartJob(ctx context.Context, e digest.Edition, resendFailed bool) (digest.SendJob, error) {
	if len(e.Page.Headlines) == 0 {
		return digest.SendJob{}, ErrEmptyEdition
	}
	now := en.opts.Now()
	job, err := en.ledger.SendJob(ctx, e.ID)
	switch {
	case errors.Is(err, digest.ErrNotFound):
		counts, err := en.recipients.CountSubscribers(ctx)
		if err != nil {
			return digest.SendJob{}, fmt.Errorf("mailer: start send: %w", err)
		}
		job, _, err = en.ledger.CreateSendJob(ctx, e.ID, counts[digest.Active], en.opts.RetryFor, now)
		return job, err
	case err != nil:
		return digest.SendJob{}, fmt.Errorf("mailer: start send: %w", err)
	case resendFailed && (job.State == digest.SendDone || job.State == digest.SendCancelled):
		if err := en.ledger.ResendFailed(ctx, e.ID, en.opts.RetryFor, now); err != nil {
			return digest.SendJob{}, err
		}
		return en.ledger.SendJob(ctx, e.ID)
	}
	return job, nil
}

// Stop reasons: why a run ended early.
var (
	errLeaseLost = errors.New("the job's lease was lost or the job was paused or cancelled")
)

// pauseError asks the run to pause the job with this reason.
type pauseError struct{ reason string }

func (e *pauseError) Error() string { return e.reason }

// Run sends the job of e until it is done, paused or cancelled, another
// sender holds it, or ctx ends (then its lease is released for another
// sender or the next start to take over). It returns the job as it stands.
func (en *Engine) Run(ctx context.Context, e digest.Edition) (digest.SendJob, error) {
	id := e.ID
	log := en.opts.Logger.With(slog.String("edition", id))
	epoch, held, err := en.ledger.AcquireSendLease(ctx, id, en.opts.Owner, -1, en.opts.Now(), en.opts.Lease)
	if err != nil {
		return digest.SendJob{}, err
	}
	if !held {
		return en.ledger.SendJob(ctx, id)
	}
	defer func() {
		_ = en.ledger.ReleaseSendLease(context.WithoutCancel(ctx), id, en.opts.Owner)
	}()
	d, err := en.digestOf(e)
	if err != nil {
		// Not something another try fixes: pause, saying why.
		reason := "the edition cannot be rendered for mail: " + err.Error()
		_, _ = en.ledger.SetSendState(context.WithoutCancel(ctx), id, digest.SendPaused, reason, en.opts.Now(), digest.SendRunning)
		return digest.SendJob{}, fmt.Errorf("mailer: render edition %s: %w", id, err)
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Go(func() { en.keepLease(runCtx, id, epoch, stop) })
	r := &run{en: en, d: d, edition: id, epoch: epoch, log: log, stop: stop, tasks: make(chan task)}
	if en.opts.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(en.opts.Rate), max(1, int(en.opts.Rate/10)))
	}
	for range en.opts.Connections {
		wg.Go(func() { r.worker(runCtx) })
	}
	log.Info("Sending edition", slog.Int("connections", en.opts.Connections), slog.Float64("rate", en.opts.Rate))
	feedErr := r.feed(runCtx)
	close(r.tasks)
	stop(nil)
	wg.Wait()

	now := en.opts.Now()
	bg := context.WithoutCancel(ctx)
	var pe *pauseError
	paused := errors.As(context.Cause(runCtx), &pe) || errors.As(feedErr, &pe)
	switch {
	case paused:
		log.Warn("Send paused", slog.String("reason", pe.reason))
		_, _ = en.ledger.SetSendState(bg, id, digest.SendPaused, pe.reason, now, digest.SendRunning, digest.SendQueued)
		feedErr = nil
	case errors.Is(feedErr, errLeaseLost):
		log.Info("Send stopped here: the job was paused, cancelled or taken over")
		feedErr = nil
	case feedErr == nil && ctx.Err() == nil:
		moved, err := en.ledger.SetSendState(bg, id, digest.SendDone, "", now, digest.SendRunning)
		if err != nil {
			return digest.SendJob{}, err
		}
		if moved {
			log.Info("Send done")
		} else {
			log.Info("Send stopped here: the job was changed meanwhile")
		}
	case errors.Is(feedErr, context.Canceled) || ctx.Err() != nil:
		log.Info("Send interrupted; the next start (or another instance) goes on")
		feedErr = nil
	default:
		log.Error("Send stopped; another sender or the next start will go on", slog.Any("error", feedErr))
	}
	job, err := en.ledger.SendJob(bg, id)
	if err != nil {
		return job, err
	}
	return job, feedErr
}

// keepLease renews the lease every third of its length, and looks at the
// job four times a second: when the lease cannot be renewed, or an admin
// paused, cancelled or reopened the job (a new epoch), the run stops —
// within a quarter of a second, not at the next renewal.
func (en *Engine) keepLease(ctx context.Context, id string, epoch int64, stop context.CancelCauseFunc) {
	watch := time.NewTicker(250 * time.Millisecond)
	defer watch.Stop()
	renewEvery := en.opts.Lease / 3
	lastRenew := time.Now()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
		}
		if time.Since(lastRenew) >= renewEvery {
			_, held, err := en.ledger.AcquireSendLease(ctx, id, en.opts.Owner, epoch, en.opts.Now(), en.opts.Lease)
			switch {
			case err != nil && ctx.Err() == nil:
				// Redis away (a restart): keep trying while the lease lasts.
				failures++
				if time.Duration(failures)*renewEvery >= en.opts.Lease {
					stop(errLeaseLost)
					return
				}
				continue
			case err == nil && !held:
				stop(errLeaseLost)
				return
			}
			failures = 0
			lastRenew = time.Now()
			continue
		}
		job, err := en.ledger.SendJob(ctx, id)
		if err == nil && (job.State != digest.SendRunning || job.Owner != en.opts.Owner || job.Epoch != epoch) {
			stop(errLeaseLost)
			return
		}
	}
}

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
	case errors.As(err, &se) && isBounce(se):
		record("bounced")
		_, uerr := en.recipients.UpdateSubscriber(bg, sub.ID, func(x *digest.Subscriber) error {
			if x.Status != digest.Active {
				return digest.ErrUnchanged
			}
			x.Status = digest.Bounced
			x.Consent.LeftAt, x.Consent.LeftHow = now, "bounce"
			return nil
		})
		if uerr != nil {
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

// isBounce tells a permanent refusal of the recipient — the address does
// not exist or cannot take mail: 5.1.x and 5.2.x at RCPT TO (or DATA),
// except 5.1.7/5.1.8 (the sender's address) and 5.2.3 (message too big) —
// from one that is the sender's problem, which pauses the job instead: a
// relay refusal, an oversized message, a bad sender would otherwise mark
// the whole audience bounced.
func isBounce(se *SMTPError) bool {
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

// SendTest sends e to each address of to, outside any job and ledger, as
// a subscriber with that address (and no real links) would get it.
func (en *Engine) SendTest(ctx context.Context, e digest.Edition, to []string) (int, error) {
	d, err := en.digestOf(e)
	if err != nil {
		return 0, err
	}
	conn, err := en.opener.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	for i, addr := range to {
		// A test recipient has no subscriber record: its id is one no
		// subscriber has, so its links change nothing.
		r := Recipient{ID: 1<<62 + int64(i), Email: addr, Format: digest.FormatHTML,
			UnsubscribeURL: en.links.UnsubscribeURL(1<<62 + int64(i)), PreferencesURL: en.links.PreferencesURL(1<<62 + int64(i))}
		msg, err := d.Message(r)
		if err != nil {
			return i, err
		}
		if err := conn.Send(ctx, d.From(), addr, msg); err != nil {
			return i, err
		}
	}
	return len(to), nil
}
