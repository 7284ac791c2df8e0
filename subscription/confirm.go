package subscription

import (
	"context"
	"errors"
	"log/slog"

	"github.com/broadsheet-news/broadsheet/digest"
)

// ErrExpired says a confirmation link is older than ConfirmTTL; the page
// offers to send a new one.
var ErrExpired = errors.New("subscription: the confirmation link has expired")

// ConfirmOutcome says what following a confirmation link did.
type ConfirmOutcome int

// The confirmation outcomes.
const (
	Confirmed        ConfirmOutcome = iota // pending → active
	AlreadyConfirmed                       // it was active already
	NotConfirmable                         // unsubscribed, bounced…: nothing done
	Confirmable                            // pending: ConfirmState's answer when a POST would confirm
)

// ConfirmState says what confirming with token would do, changing
// nothing: the confirmation page shows a button rather than confirming on
// GET, because mail scanners open every link of a mail (and HEAD it).
// Errors are Confirm's.
func (s *Service) ConfirmState(ctx context.Context, token string) (ConfirmOutcome, error) {
	id, issued, err := s.tokens.Verify(PurposeConfirm, token)
	if err != nil {
		return 0, err
	}
	if s.now().UTC().Sub(issued) > s.cfg.ConfirmTTL {
		return 0, ErrExpired
	}
	sub, err := s.store.Subscriber(ctx, id)
	switch {
	case errors.Is(err, digest.ErrNotFound):
		return 0, ErrInvalidToken // erased since
	case err != nil:
		// Redis away: the token is genuine, so offer the button; its POST
		// is spooled (Confirm) and applied when Redis is back.
		s.logger.Warn("Confirmation page shown without the subscriber's state", slog.Any("error", err))
		return Confirmable, nil
	case sub.Status == digest.Pending:
		return Confirmable, nil
	case sub.Status == digest.Active:
		return AlreadyConfirmed, nil
	}
	return NotConfirmable, nil
}

// ResendConfirmation sends a new confirmation mail for an expired (but
// genuine) confirmation token, still at most once per ResendAfter.
func (s *Service) ResendConfirmation(ctx context.Context, token string) error {
	id, _, err := s.tokens.Verify(PurposeConfirm, token)
	if err != nil {
		return err
	}
	if err := s.sendConfirmation(ctx, id, false); errors.Is(err, digest.ErrNotFound) {
		return ErrInvalidToken // erased since
	} else if err != nil {
		return err
	}
	return nil
}
