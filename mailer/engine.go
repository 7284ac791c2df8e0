package mailer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/broadsheet-news/broadsheet/digest"
)

// SendJobs keeps send jobs: state, counters, epochs. store.Store meets it.
type SendJobs interface {
	CreateSendJob(ctx context.Context, edition string, total, maxID, chunkSize int64, retryFor time.Duration, now time.Time) (digest.SendJob, bool, error)
	SendJob(ctx context.Context, edition string) (digest.SendJob, error)
	SetSendState(ctx context.Context, edition string, state digest.SendState, reason string, now time.Time, from ...digest.SendState) (bool, error)
	JoinSendJob(ctx context.Context, edition string, now time.Time) (int64, bool, error)
	FinishSendJob(ctx context.Context, edition string, epoch int64, now time.Time) (bool, error)
	ResendFailed(ctx context.Context, edition string, retryFor time.Duration, now time.Time) error
	CatchUpSendJob(ctx context.Context, edition string, maxID, joined int64, retryFor time.Duration, now time.Time) error
}

// Chunks hands out a job's chunks of subscriber ids to the senders, each
// under a lease. store.Store meets it.
type Chunks interface {
	ClaimChunk(ctx context.Context, edition, holder string, epoch int64, now time.Time, lease time.Duration) (int64, bool, time.Time, error)
	RenewChunk(ctx context.Context, edition, holder string, chunk int64, now time.Time, lease time.Duration) (bool, error)
	CompleteChunk(ctx context.Context, edition, holder string, epoch, chunk int64, now time.Time) error
	ReleaseChunk(ctx context.Context, edition, holder string, chunk int64) error
}

// Deliveries is the ledger proper: who got the edition, who will not.
// store.Store meets it.
type Deliveries interface {
	Handled(ctx context.Context, edition string, from, to int64) (delivered, failed func(int64) bool, err error)
	RecordSend(ctx context.Context, edition string, id int64, outcome string, now time.Time) error
}

// Retries queues temporary failures for another try, which any sender
// claims under a lease. store.Store meets it.
type Retries interface {
	ScheduleRetry(ctx context.Context, edition string, id int64, now time.Time, base, maxWait time.Duration) (int, error)
	ClaimRetries(ctx context.Context, edition string, now time.Time, lease time.Duration, limit int) ([]int64, time.Time, error)
	FirstFailures(ctx context.Context, edition string, ids []int64) ([]time.Time, error)
}

// Ledger is everything a send keeps in Redis. store.Store meets it.
type Ledger interface {
	SendJobs
	Chunks
	Deliveries
	Retries
}

// Recipients is the audience. store.Store meets it.
type Recipients interface {
	SubscriberRange(ctx context.Context, status digest.SubscriberStatus, from, to int64) ([]digest.Subscriber, error)
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	Bounce(ctx context.Context, id int64, at time.Time) (bool, error)
	CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error)
	MaxSubscriberID(ctx context.Context) (int64, error)
}

// Pacer holds every sender sharing a send to one rate. store.Store meets
// it (a GCRA in Redis), so --send-rate holds whatever the number of
// instances.
type Pacer interface {
	PaceSend(ctx context.Context, rate float64, burst int) error
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
	// Rate bounds messages per second over all connections (0: no bound)
	// — of every instance when Pacer is set.
	Rate float64
	// Pacer, when set, paces Rate in Redis, over every instance; without
	// one the bound is this process's.
	Pacer Pacer
	// RetryFor is how long temporary failures are retried (default 6h);
	// the first retry comes after RetryBase (default 2s), each next one
	// after twice as long, at most RetryMax (default 1m).
	RetryFor, RetryBase, RetryMax time.Duration
	// Lease is how long a sender's hold on a chunk (or a retry) lasts
	// unless renewed (default 15s): a crashed sender's chunk is taken
	// over after it.
	Lease time.Duration
	// MaxConsecutiveFailures pauses the job when that many messages in a
	// row failed (default 200).
	MaxConsecutiveFailures int
	// BounceBreaker pauses the job when more than this share (0 to 1,
	// default 0.2) of the last 200 recipients tried were refused
	// permanently; see breaker.
	BounceBreaker float64
	// Batch is how many subscriber ids a chunk of a new job covers
	// (default 1000): the unit senders claim, and after which retries go.
	Batch int
	// Owner names this sender in its leases (host and process).
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

// StartJob creates the send job of e and returns it; with no active
// subscriber it makes none and returns ErrNoAudience. A job that exists
// is returned as it is, except a finished one: with resendFailed it is
// reopened for the subscribers who did not get it; a done one without
// is reopened for the active subscribers not in its ledger — those who
// joined since — and SendJob.CatchUp says how many (0: none, nothing to
// do). The ledger keeps anyone who got the edition from getting it twice.
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
		if counts[digest.Active] == 0 {
			return digest.SendJob{Edition: e.ID}, ErrNoAudience
		}
		maxID, err := en.recipients.MaxSubscriberID(ctx)
		if err != nil {
			return digest.SendJob{}, fmt.Errorf("mailer: start send: %w", err)
		}
		job, _, err = en.ledger.CreateSendJob(ctx, e.ID, counts[digest.Active], maxID, int64(en.opts.Batch), en.opts.RetryFor, now)
		return job, err
	case err != nil:
		return digest.SendJob{}, fmt.Errorf("mailer: start send: %w", err)
	case resendFailed && (job.State == digest.SendDone || job.State == digest.SendCancelled):
		if err := en.ledger.ResendFailed(ctx, e.ID, en.opts.RetryFor, now); err != nil {
			return digest.SendJob{}, err
		}
		return en.ledger.SendJob(ctx, e.ID)
	case job.State == digest.SendDone:
		return en.catchUp(ctx, job)
	}
	return job, nil
}

// ErrNoAudience is digest's: no active subscriber, no send job.
var ErrNoAudience = digest.ErrNoAudience

// catchUp reopens a done job for the active subscribers missing from its
// ledger (joined since), when there are any; CatchUp says how many.
func (en *Engine) catchUp(ctx context.Context, job digest.SendJob) (digest.SendJob, error) {
	maxID, err := en.recipients.MaxSubscriberID(ctx)
	if err != nil {
		return digest.SendJob{}, fmt.Errorf("mailer: catch-up send: %w", err)
	}
	size := max(job.ChunkSize, 1)
	var joined int64
	for from := int64(1); from <= maxID; from += size {
		to := min(from+size, maxID+1)
		subs, err := en.recipients.SubscriberRange(ctx, digest.Active, from, to)
		if err != nil {
			return digest.SendJob{}, fmt.Errorf("mailer: catch-up send: %w", err)
		}
		if len(subs) == 0 {
			continue
		}
		delivered, failed, err := en.ledger.Handled(ctx, job.Edition, from, to)
		if err != nil {
			return digest.SendJob{}, err
		}
		for _, sub := range subs {
			if !delivered(sub.ID) && !failed(sub.ID) {
				joined++
			}
		}
	}
	if joined == 0 {
		job.CatchUp = 0
		return job, nil
	}
	if err := en.ledger.CatchUpSendJob(ctx, job.Edition, maxID, joined, en.opts.RetryFor, en.opts.Now()); err != nil {
		return digest.SendJob{}, err
	}
	return en.ledger.SendJob(ctx, job.Edition)
}

// Stop reasons: why a run ended early.
var (
	errLeaseLost = errors.New("the job's lease was lost or the job was paused or cancelled")
)

// pauseError asks the run to pause the job with this reason.
type pauseError struct{ reason string }

func (e *pauseError) Error() string { return e.reason }

// Run takes part in the job of e — every instance running it shares its
// chunks — until the job is done (by whichever sender finishes last),
// paused or cancelled, or ctx ends (then the chunk it holds is released
// for another sender). It returns the job as it stands.
func (en *Engine) Run(ctx context.Context, e digest.Edition) (digest.SendJob, error) {
	id := e.ID
	log := en.opts.Logger.With(slog.String("edition", id))
	epoch, joined, err := en.ledger.JoinSendJob(ctx, id, en.opts.Now())
	if err != nil {
		return digest.SendJob{}, err
	}
	if !joined {
		return en.ledger.SendJob(ctx, id)
	}
	d, err := en.digestOf(e)
	if err != nil {
		// Not something another try fixes: pause, saying why.
		reason := "the edition cannot be rendered for mail: " + err.Error()
		_, _ = en.ledger.SetSendState(context.WithoutCancel(ctx), id, digest.SendPaused, reason, en.opts.Now(), digest.SendRunning)
		return digest.SendJob{}, fmt.Errorf("mailer: render edition %s: %w", id, err)
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	r := &run{en: en, d: d, edition: id, epoch: epoch, holder: en.opts.Owner + "/" + rand.Text()[:8],
		log: log, stop: stop, tasks: make(chan task), breaker: newBreaker(en.opts.BounceBreaker)}
	r.chunk.Store(-1)
	if en.opts.Rate > 0 && en.opts.Pacer == nil {
		r.limiter = rate.NewLimiter(rate.Limit(en.opts.Rate), max(1, int(en.opts.Rate/10)))
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.watch(runCtx) })
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
	r.settleHeld(bg, paused)
	switch {
	case paused:
		log.Warn("Send paused", slog.String("reason", pe.reason))
		_, _ = en.ledger.SetSendState(bg, id, digest.SendPaused, pe.reason, now, digest.SendRunning, digest.SendQueued)
		feedErr = nil
	case errors.Is(feedErr, errLeaseLost):
		log.Info("Send stopped here: the job was paused, cancelled or changed, or a chunk was taken over")
		feedErr = nil
	case feedErr == nil:
		log.Info("Send done", slog.Int64("sent_here", r.sent.Load()))
	case errors.Is(feedErr, context.Canceled) || ctx.Err() != nil:
		log.Info("Send interrupted; other instances (or the next start) go on")
		feedErr = nil
	default:
		log.Error("Send stopped; other instances or the next start will go on", slog.Any("error", feedErr))
	}
	job, err := en.ledger.SendJob(bg, id)
	if err != nil {
		return job, err
	}
	return job, feedErr
}

// watch renews the lease on the chunk the run holds every third of its
// length, and looks at the job four times a second: when the lease
// cannot be renewed, or an admin paused, cancelled or reopened the job
// (a new epoch), the run stops — within a quarter of a second.
func (r *run) watch(ctx context.Context) {
	en := r.en
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	renewEvery := en.opts.Lease / 3
	lastRenew := time.Now()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c := r.chunk.Load(); c >= 0 && time.Since(lastRenew) >= renewEvery {
			held, err := en.ledger.RenewChunk(ctx, r.edition, r.holder, c, en.opts.Now(), en.opts.Lease)
			switch {
			case err != nil && ctx.Err() == nil:
				// Redis away (a restart, a failover): keep trying while the lease lasts.
				failures++
				if time.Duration(failures)*250*time.Millisecond >= en.opts.Lease {
					r.stop(errLeaseLost)
					return
				}
				continue
			case err == nil && !held && r.chunk.Load() == c:
				r.stop(errLeaseLost)
				return
			}
			failures = 0
			lastRenew = time.Now()
			continue
		}
		job, err := en.ledger.SendJob(ctx, r.edition)
		if err == nil && (job.State != digest.SendRunning || job.Epoch != r.epoch) {
			if job.State == digest.SendDone && job.Epoch == r.epoch {
				r.stop(errJobDone)
			} else {
				r.stop(errLeaseLost)
			}
			return
		}
	}
}

// errJobDone: another sender finished the job.
var errJobDone = errors.New("the job is done")

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
		r := Recipient{ID: SampleSubscriberID, Email: addr, Format: digest.FormatHTML, Nonce: rand.Text(),
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
