package subscription

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Search returns up to limit subscribers whose address starts with prefix
// (any case), in address order, of status (all when ""), and whether more
// match.
func (s *Service) Search(ctx context.Context, prefix string, status digest.SubscriberStatus, limit int) ([]digest.Subscriber, bool, error) {
	if status != "" && !status.Valid() {
		return nil, false, &FieldError{Field: "status", Message: fmt.Sprintf("%q is not one of pending, active, unsubscribed, bounced, complained", status)}
	}
	prefix = strings.TrimSpace(prefix)
	if len(prefix) > digest.MaxEmailLength {
		return nil, false, &FieldError{Field: "q", Message: "is longer than an address can be"}
	}
	page, more, err := s.store.SearchSubscribers(ctx, prefix, status, limit)
	if err != nil {
		return nil, false, err
	}
	if err := s.store.FillConsent(ctx, page); err != nil {
		return nil, false, err
	}
	return page, more, nil
}

// DayCount is the number of active subscribers on a day.
type DayCount struct {
	Day    string // YYYY-MM-DD
	Active int64
	Known  bool // false: no sample was recorded that day
}

// RecordActive records today's number of active subscribers (day is
// today in the site's zone); the day's last sample is what the history
// shows.
func (s *Service) RecordActive(ctx context.Context, day string) error {
	counts, err := s.store.CountSubscribers(ctx)
	if err != nil {
		return err
	}
	return s.store.RecordDailyActive(ctx, day, counts[digest.Active])
}

// RunActiveCounter records the active count every period until ctx ends;
// today names the current day.
func (s *Service) RunActiveCounter(ctx context.Context, period time.Duration, today func() string) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := s.RecordActive(ctx, today()); err != nil && ctx.Err() == nil {
			s.logger.Warn("Unable to record the daily subscriber count", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ActiveHistory returns the active count of each of the days days ending
// with last (YYYY-MM-DD), oldest first.
func (s *Service) ActiveHistory(ctx context.Context, last string, days int) ([]DayCount, error) {
	end, err := digest.ParseDay(last)
	if err != nil {
		return nil, fmt.Errorf("subscription: history: %w", err)
	}
	recorded, err := s.store.DailyActive(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DayCount, days)
	for i := range days {
		day := end.AddDate(0, 0, i-days+1).Format(time.DateOnly)
		n, ok := recorded[day]
		out[i] = DayCount{Day: day, Active: n, Known: ok}
	}
	return out, nil
}
