package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// SendEngine delivers an edition. mailer.Engine meets it.
type SendEngine interface {
	StartJob(ctx context.Context, e digest.Edition, resendFailed bool) (digest.SendJob, error)
	Run(ctx context.Context, e digest.Edition) (digest.SendJob, error)
}

// SendJobs keeps send jobs. store.Store meets it.
type SendJobs interface {
	SendJob(ctx context.Context, edition string) (digest.SendJob, error)
	SetSendState(ctx context.Context, edition string, state digest.SendState, reason string, now time.Time, from ...digest.SendState) (bool, error)
	PendingSendJobs(ctx context.Context) ([]string, error)
}

// Sender runs send jobs: on demand (CLI, API), on schedule, and — in every
// serve — any job left without a sender by a crash or a restart.
type Sender struct {
	engine   SendEngine
	jobs     SendJobs
	editions EditionStore
	now      func() time.Time
	logger   *slog.Logger

	mu      sync.Mutex
	running map[string]bool // jobs this process is running
	wg      sync.WaitGroup
}

// NewSender returns a Sender.
func NewSender(engine SendEngine, jobs SendJobs, editions EditionStore, now func() time.Time, logger *slog.Logger) *Sender {
	return &Sender{engine: engine, jobs: jobs, editions: editions, now: now, logger: logger, running: map[string]bool{}}
}

// Start creates the send job of edition id (or reopens a finished one with
// resendFailed) and returns it, without sending.
func (s *Sender) Start(ctx context.Context, id string, resendFailed bool) (digest.SendJob, digest.Edition, error) {
	e, err := s.editions.Edition(ctx, id)
	if err != nil {
		return digest.SendJob{}, digest.Edition{}, fmt.Errorf("publish: send %s: %w", id, err)
	}
	job, err := s.engine.StartJob(ctx, e, resendFailed)
	if err != nil {
		return digest.SendJob{}, e, fmt.Errorf("publish: send %s: %w", id, err)
	}
	return job, e, nil
}

// Send starts the job of edition id and runs it here until it ends; when
// another process holds it, Send follows it instead (progress is called
// every second either way) until it is done, paused or cancelled.
func (s *Sender) Send(ctx context.Context, id string, resendFailed bool, progress func(digest.SendJob)) (digest.SendJob, error) {
	job, e, err := s.Start(ctx, id, resendFailed)
	if err != nil {
		return job, err
	}
	if job.State == digest.SendDone || job.State == digest.SendCancelled || job.State == digest.SendPaused {
		return job, nil
	}
	done := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if j, err := s.jobs.SendJob(ctx, id); err == nil {
						progress(j)
					}
				}
			}
		}()
	}
	defer close(done)
	for {
		job, err = s.runHere(ctx, e)
		if err != nil || job.State != digest.SendRunning && job.State != digest.SendQueued {
			return job, err
		}
		// Another sender holds it: follow it, and take over if it dies.
		select {
		case <-ctx.Done():
			return job, nil
		case <-time.After(time.Second):
		}
	}
}

// runHere runs the job unless this process already does.
func (s *Sender) runHere(ctx context.Context, e digest.Edition) (digest.SendJob, error) {
	s.mu.Lock()
	if s.running[e.ID] {
		s.mu.Unlock()
		return s.jobs.SendJob(ctx, e.ID)
	}
	s.running[e.ID] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, e.ID)
		s.mu.Unlock()
	}()
	return s.engine.Run(ctx, e)
}

// Go runs the job of edition id in the background (until ctx ends), for
// the API and the schedule.
func (s *Sender) Go(ctx context.Context, id string) {
	s.wg.Go(func() {
		e, err := s.editions.Edition(ctx, id)
		if errors.Is(err, digest.ErrNotFound) {
			// Pruned since: nothing left to send, and no reason to look again.
			_, _ = s.jobs.SetSendState(ctx, id, digest.SendCancelled, "the edition no longer exists", s.now(),
				digest.SendQueued, digest.SendRunning, digest.SendPaused)
			s.logger.Warn("Cancelled the send job of an edition that no longer exists", slog.String("edition", id))
			return
		}
		if err != nil {
			s.logger.Error("Unable to send", slog.String("edition", id), slog.Any("error", err))
			return
		}
		if _, err := s.runHere(ctx, e); err != nil && ctx.Err() == nil {
			s.logger.Error("Send failed", slog.String("edition", id), slog.Any("error", err))
		}
	})
}

// Wait waits for the background runs to return (after their ctx ended).
func (s *Sender) Wait() { s.wg.Wait() }

// Resume joins, in the background, every queued or running job this
// process is not running: every serve takes part in every send (each
// claims chunks of it), and a job left by a crash goes on — its dead
// sender's chunk taken over once the lease ends — within the lease
// (15 s) plus this period.
func (s *Sender) Resume(ctx context.Context) {
	ids, err := s.jobs.PendingSendJobs(ctx)
	if err != nil {
		s.logger.Warn("Unable to list send jobs", slog.Any("error", err))
		return
	}
	for _, id := range ids {
		job, err := s.jobs.SendJob(ctx, id)
		if err != nil || job.State != digest.SendQueued && job.State != digest.SendRunning {
			continue
		}
		s.mu.Lock()
		mine := s.running[id]
		s.mu.Unlock()
		if !mine {
			s.logger.Info("Joining a send job", slog.String("edition", id), slog.String("state", string(job.State)))
			s.Go(ctx, id)
		}
	}
}

// RunResumer calls Resume every period until ctx ends.
func (s *Sender) RunResumer(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		s.Resume(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Control changes a job's state for an admin: pause (running or queued →
// paused), resume (paused → queued, taken by a sender), cancel (anything
// not finished → cancelled).
func (s *Sender) Control(ctx context.Context, id, action string) (digest.SendJob, error) {
	now := s.now()
	var moved bool
	var err error
	switch action {
	case "pause":
		moved, err = s.jobs.SetSendState(ctx, id, digest.SendPaused, "paused by an admin", now, digest.SendRunning, digest.SendQueued)
	case "resume":
		moved, err = s.jobs.SetSendState(ctx, id, digest.SendQueued, "", now, digest.SendPaused)
	case "cancel":
		moved, err = s.jobs.SetSendState(ctx, id, digest.SendCancelled, "cancelled by an admin", now, digest.SendRunning, digest.SendQueued, digest.SendPaused)
	default:
		return digest.SendJob{}, fmt.Errorf("publish: unknown action %q", action)
	}
	if err != nil {
		return digest.SendJob{}, err
	}
	job, err := s.jobs.SendJob(ctx, id)
	if err != nil {
		return job, err
	}
	if !moved {
		return job, fmt.Errorf("publish: cannot %s a job that is %s: %w", action, job.State, ErrJobState)
	}
	return job, nil
}

// ErrJobState says an action does not apply to a job in its state.
var ErrJobState = errors.New("not possible in the job's state")

// TestSender sends one message outside any job. mailer.Engine meets it.
type TestSender interface {
	SendTest(ctx context.Context, e digest.Edition, to []string) (int, error)
}

// SendTest sends edition e to the addresses to, outside the ledger (a
// proof for the editor), and returns how many were sent.
func (s *Sender) SendTest(ctx context.Context, e digest.Edition, to []string) (int, error) {
	ts, ok := s.engine.(TestSender)
	if !ok {
		return 0, errors.New("publish: this engine cannot send tests")
	}
	return ts.SendTest(ctx, e, to)
}

// Status returns the send job of edition id.
func (s *Sender) Status(ctx context.Context, id string) (digest.SendJob, error) {
	return s.jobs.SendJob(ctx, id)
}
