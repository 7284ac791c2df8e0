package subscription

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Feedback outcomes ApplyFeedback is asked for.
const (
	FeedbackBounced     = "bounced"     // a hard bounce, or too many soft ones
	FeedbackComplained  = "complained"  // a spam complaint
	FeedbackUnsubscribe = "unsubscribe" // a mailto: unsubscribe
)

// ApplyFeedback changes subscriber id as a report that came back asks
// (package feedback reads the reports): bounced (from active or pending),
// complained (from active, pending or unsubscribed: a complained address
// is never mailed again, and only a new double opt-in can bring it back),
// or unsubscribed by mail (from active or pending). It reports whether the
// subscriber changed; applying the same report twice changes nothing.
func (s *Service) ApplyFeedback(ctx context.Context, id int64, outcome string) (digest.Subscriber, bool, error) {
	now := s.now().UTC()
	changed := false
	sub, err := s.store.UpdateSubscriber(ctx, id, func(x *digest.Subscriber) error {
		changed = false
		switch outcome {
		case FeedbackBounced:
			if x.Status != digest.Active && x.Status != digest.Pending {
				return digest.ErrUnchanged
			}
			x.Status, x.Consent.LeftHow = digest.Bounced, "bounce"
		case FeedbackComplained:
			if x.Status != digest.Active && x.Status != digest.Pending && x.Status != digest.Unsubscribed {
				return digest.ErrUnchanged
			}
			x.Status, x.Consent.LeftHow = digest.Complained, "complaint"
		case FeedbackUnsubscribe:
			if x.Status != digest.Active && x.Status != digest.Pending {
				return digest.ErrUnchanged
			}
			x.Status, x.Consent.LeftHow = digest.Unsubscribed, "mailto"
		default:
			return fmt.Errorf("subscription: unknown feedback outcome %q", outcome)
		}
		x.Consent.LeftAt = now
		changed = true
		return nil
	})
	if err != nil {
		return digest.Subscriber{}, false, fmt.Errorf("subscription: apply feedback: %w", err)
	}
	if changed {
		s.logger.Info("Subscriber changed by a report", slog.Int64("subscriber", id), slog.String("status", string(sub.Status)))
	}
	return sub, changed, nil
}
