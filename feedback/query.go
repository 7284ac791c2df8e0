package feedback

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
)

// ErrBadKind: a kind filter that is none of Kinds.
var ErrBadKind = errors.New("feedback: kind must be hard, soft, complaint or unsubscribe")

// ErrBadCursor: a cursor Events did not give.
var ErrBadCursor = errors.New("feedback: bad cursor")

// Events lists kept events of kind ("" for all), newest first, from
// cursor ("" to start); the next page's cursor is "" at the end.
func (s *Service) Events(ctx context.Context, kind, cursor string, limit int) ([]digest.FeedbackEvent, string, error) {
	if kind != "" && !slices.Contains(Kinds, Kind(kind)) {
		return nil, "", ErrBadKind
	}
	if cursor != "" {
		ms, seq, ok := strings.Cut(cursor, "-")
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil || !ok {
			return nil, "", ErrBadCursor
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return nil, "", ErrBadCursor
		}
	}
	evs, next, err := s.store.FeedbackEvents(ctx, kind, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("feedback: %w", err)
	}
	return evs, next, nil
}

// Recent returns a subscriber's last events, newest first.
func (s *Service) Recent(ctx context.Context, subscriber int64) ([]digest.FeedbackEvent, error) {
	evs, err := s.store.RecentFeedback(ctx, subscriber)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	return evs, nil
}

// EditionCounts returns how many subscribers the reports about edition
// marked bounced and complained.
func (s *Service) EditionCounts(ctx context.Context, edition string) (bounced, complained int64, err error) {
	if bounced, complained, err = s.store.EditionFeedback(ctx, edition); err != nil {
		return 0, 0, fmt.Errorf("feedback: %w", err)
	}
	return bounced, complained, nil
}
