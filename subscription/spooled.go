package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Spool is a local append-only file of reader actions kept while Redis is
// unreachable: an action is on disk before the reader gets the answer, and
// is applied, in order, when Redis answers again. spool.Spool meets it.
type Spool interface {
	Append(rec []byte) error
	Pending() int
	Drain(apply func(rec []byte) error) (int, error)
}

// liveTimeout bounds the attempt to apply a reader action in Redis before it
// goes to the spool.
const liveTimeout = 5 * time.Second

// The reader actions that may be spooled.
const (
	opConfirm = "confirm"
	opLeave   = "leave"
	opFormat  = "format"
)

// errUnknownAction: a spooled action this version does not know (one
// written by a later version, before a rollback). It is an answer, not an
// outage: the drain drops it rather than stopping at it for good.
var errUnknownAction = errors.New("subscription: unknown reader action")

// readerAction is a reader's change, as applied and as spooled (one JSON
// line). It carries its own time, so a late application records when the
// reader acted.
type readerAction struct {
	Op     string            `json:"op"`
	ID     int64             `json:"id"`
	At     time.Time         `json:"at"`
	IP     string            `json:"ip,omitempty"`
	How    string            `json:"how,omitempty"`
	Format digest.MailFormat `json:"format,omitempty"`
}

// unreachable reports whether err says Redis could not be reached (or did
// not answer in time) rather than answering: the action may succeed later.
// A subscriber that does not exist, or an error reply from Redis, is an
// answer.
func unreachable(err error) bool {
	var reply interface{ RedisError() }
	return err != nil && !errors.Is(err, digest.ErrNotFound) && !errors.Is(err, ErrInvalidToken) &&
		!errors.Is(err, errUnknownAction) && !errors.As(err, &reply)
}

// apply makes a reader action in Redis.
func (s *Service) apply(ctx context.Context, a readerAction) (digest.Subscriber, ConfirmOutcome, error) {
	switch a.Op {
	case opConfirm:
		return s.confirm(ctx, a)
	case opLeave:
		sub, err := s.leave(ctx, a)
		return sub, 0, err
	case opFormat:
		sub, err := s.setFormat(ctx, a)
		return sub, 0, err
	}
	return digest.Subscriber{}, 0, fmt.Errorf("%w %q", errUnknownAction, a.Op)
}

// act applies a reader action now, or, when Redis is unreachable, spools it
// and answers as if it were applied. Actions already spooled go first, so
// a reader's actions apply in the order made.
func (s *Service) act(ctx context.Context, a readerAction) (digest.Subscriber, ConfirmOutcome, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), liveTimeout)
	defer cancel()
	if s.cfg.Spool != nil && s.cfg.Spool.Pending() > 0 { // Equivalent mutant (CONDITIONALS_BOUNDARY): draining a spool with nothing pending applies nothing; >= 0 only costs a read of the file.
		_, _ = s.DrainSpool(ctx)
	}
	var sub digest.Subscriber
	var outcome ConfirmOutcome
	var err error
	if s.cfg.Spool == nil || s.cfg.Spool.Pending() == 0 {
		sub, outcome, err = s.apply(ctx, a)
		if err == nil || s.cfg.Spool == nil || !unreachable(err) {
			if errors.Is(err, digest.ErrNotFound) {
				return digest.Subscriber{}, 0, ErrInvalidToken // erased since
			}
			return sub, outcome, err
		}
	}
	rec, _ := json.Marshal(a)
	if serr := s.cfg.Spool.Append(rec); serr != nil {
		if err == nil {
			err = serr
		}
		return digest.Subscriber{}, 0, fmt.Errorf("subscription: %w (and the spool: %w)", err, serr)
	}
	s.logger.Info("Reader action spooled until Redis answers", slog.String("action", a.Op), slog.Int64("subscriber", a.ID))
	sub = digest.Subscriber{ID: a.ID}
	switch a.Op {
	case opLeave:
		sub.Status = digest.Unsubscribed
	case opConfirm:
		sub.Status, outcome = digest.Active, Confirmed
	case opFormat:
		sub.Status, sub.Format = digest.Active, a.Format
	}
	return sub, outcome, nil
}

// DrainSpool applies the spooled reader actions, in order, until the spool
// is empty or Redis is unreachable again. An action that no longer applies
// (the subscriber was erased), cannot be read, or is of a kind this version
// does not know is dropped with a warning.
func (s *Service) DrainSpool(ctx context.Context) (int, error) {
	if s.cfg.Spool == nil {
		return 0, nil
	}
	n, err := s.cfg.Spool.Drain(func(rec []byte) error {
		var a readerAction
		if err := json.Unmarshal(rec, &a); err != nil {
			s.logger.Warn("Spooled reader action unreadable; dropped", slog.Any("error", err))
			return nil
		}
		_, _, err := s.apply(ctx, a)
		switch {
		case err == nil:
			return nil
		case unreachable(err):
			return err
		}
		s.logger.Warn("Spooled reader action no longer applies; dropped", slog.String("action", a.Op),
			slog.Int64("subscriber", a.ID), slog.Any("error", err))
		return nil
	})
	if n > 0 {
		s.logger.Info("Spooled reader actions applied", slog.Int("count", n), slog.Int("left", s.cfg.Spool.Pending()))
	}
	return n, err
}

// RunSpool applies spooled reader actions every interval while there are
// some, until ctx ends.
func (s *Service) RunSpool(ctx context.Context, every time.Duration) {
	if s.cfg.Spool == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s.cfg.Spool.Pending() > 0 { // Equivalent mutant (CONDITIONALS_BOUNDARY): draining a spool with nothing pending applies nothing; >= 0 only costs a read of the file.
			_, _ = s.DrainSpool(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
