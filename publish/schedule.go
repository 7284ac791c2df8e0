package publish

import (
	"context"
	"log/slog"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// ScheduleLocks make the daily run happen once. store.Store meets it.
type ScheduleLocks interface {
	TakeScheduleLock(ctx context.Context, day string, ttl time.Duration) (bool, error)
	ScheduleLocked(ctx context.Context, day string) (bool, error)
	ExtendScheduleLock(ctx context.Context, day string, ttl time.Duration) error
	ReleaseScheduleLock(ctx context.Context, day string) error
	// ScheduleSince returns when the schedule first ran on this store,
	// recording now if it never did.
	ScheduleSince(ctx context.Context, now time.Time) (time.Time, error)
}

// Audience counts subscribers by status. store.Store meets it.
type Audience interface {
	CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error)
}

// Daily is the scheduled run: build today's edition, then send it.
type Daily struct {
	pub      *Publisher
	sender   *Sender
	locks    ScheduleLocks
	audience Audience
	src      Source
	// CatchUp: a run missed while no instance was up is made at start if
	// it was due less than this long ago; later than that the edition is
	// built but not sent.
	catchUp time.Duration
	logger  *slog.Logger
}

// NewDaily returns the daily run.
func NewDaily(pub *Publisher, sender *Sender, locks ScheduleLocks, audience Audience, src Source, catchUp time.Duration, logger *slog.Logger) *Daily {
	return &Daily{pub: pub, sender: sender, locks: locks, audience: audience, src: src, catchUp: catchUp, logger: logger}
}

// The day's lock is held briefly while the run builds and starts the send
// (a crash then frees it soon, for a restart to catch up), then for
// lockTTL, which outlives the day and a DST repeat of an hour.
const (
	runLockTTL = 10 * time.Minute
	lockTTL    = 36 * time.Hour
)

// Run is the scheduled job. It runs once per day across instances: the
// first to take the day's lock builds and sends; others (and a DST repeat)
// log and return. A build that fails leaves the previous edition and sends
// nothing; next says when the schedule tries again.
func (d *Daily) Run(ctx context.Context, next time.Time) {
	d.run(ctx, true, next)
}

func (d *Daily) run(ctx context.Context, send bool, next time.Time) {
	day := d.pub.Today()
	log := d.logger.With(slog.String("edition", day))
	took, err := d.locks.TakeScheduleLock(ctx, day, runLockTTL)
	if err != nil {
		log.Error("Scheduled run skipped: cannot take its lock", slog.Any("error", err))
		return
	}
	if !took {
		log.Info("Scheduled run already made today (by this or another instance)")
		return
	}
	bg := context.WithoutCancel(ctx)
	res, err := d.pub.Build(ctx, d.src, day)
	if err != nil {
		// Free the day: a restart, or the next firing, may try again.
		_ = d.locks.ReleaseScheduleLock(bg, day)
		log.Error("Scheduled build failed; the previous edition stays and nothing is sent", slog.Any("error", err),
			slog.Time("next_attempt", next))
		return
	}
	if send {
		send, err = d.hasAudience(ctx)
		if err != nil {
			_ = d.locks.ReleaseScheduleLock(bg, day)
			log.Error("Scheduled send not started: cannot count the subscribers", slog.Any("error", err))
			return
		}
		if !send {
			log.Info("No active subscribers: the edition is built and no send job is made (broadsheet send mails it later)")
		}
	}
	if send {
		if _, _, err := d.sender.Start(ctx, res.Edition.ID, false); err != nil {
			_ = d.locks.ReleaseScheduleLock(bg, day)
			log.Error("Scheduled send not started", slog.Any("error", err))
			return
		}
	}
	// The job exists (in Redis, resumable by any instance): the day's run
	// is made.
	if err := d.locks.ExtendScheduleLock(bg, day, lockTTL); err != nil {
		log.Warn("Unable to keep the day's lock", slog.Any("error", err))
	}
	if send {
		d.sender.Go(ctx, res.Edition.ID)
	}
}

// hasAudience reports whether anyone is active to send to: a job made
// for nobody would stand "done" while readers joined later.
func (d *Daily) hasAudience(ctx context.Context) (bool, error) {
	counts, err := d.audience.CountSubscribers(ctx)
	if err != nil {
		return false, err
	}
	return counts[digest.Active] > 0, nil
}

// CatchUp makes the run that was due at due (the last scheduled time
// before now) if no instance made it: in full when it is less than the
// catch-up window late, as a build only otherwise (sending a morning
// paper in the evening surprises readers), saying why. A run due before
// the schedule first ran on this store was never missed: a fresh store
// sends first at the next scheduled time.
func (d *Daily) CatchUp(ctx context.Context, due, now, next time.Time) {
	since, err := d.locks.ScheduleSince(ctx, now)
	if err != nil {
		d.logger.Warn("Unable to tell whether a scheduled run was missed; none is caught up", slog.Any("error", err))
		return
	}
	if due.IsZero() || d.pub.Today() != d.pub.dayOf(due) {
		return
	}
	if due.Before(since) {
		d.logger.Info("First start of the schedule on this store: nothing to catch up; the first send is at the next scheduled time",
			slog.Time("next", next))
		return
	}
	locked, err := d.locks.ScheduleLocked(ctx, d.pub.dayOf(due))
	if err != nil || locked {
		return
	}
	late := now.Sub(due)
	if late <= d.catchUp {
		d.logger.Info("Making the scheduled run missed while down", slog.Time("due", due), slog.Duration("late", late))
		d.run(ctx, true, next)
		return
	}
	d.logger.Warn("The scheduled run was missed by more than the catch-up window: building today's edition, not sending it (send it with broadsheet send, or the API)",
		slog.Time("due", due), slog.Duration("late", late), slog.Duration("catch_up", d.catchUp))
	d.run(ctx, false, next)
}
