package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	Bounce(ctx context.Context, id int64, at time.Time) (bool, error)
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

// SampleSubscriberID is the id a test send or a preview is addressed to.
// No subscriber has it (ids count up from 1), yet it is the largest id a
// token may carry, so its links are signed and verified as real ones are
// and change nothing when followed.
const SampleSubscriberID = 1 << 62

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
		r := Recipient{ID: SampleSubscriberID, Email: addr, Format: digest.FormatHTML,
			UnsubscribeURL: en.links.UnsubscribeURL(SampleSubscriberID), PreferencesURL: en.links.PreferencesURL(SampleSubscriberID)}
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
