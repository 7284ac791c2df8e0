package subscription

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/broadsheet-news/broadsheet/digest"
)

// The reader's own actions, from the links in their mails: confirm,
// unsubscribe, change the format. Each is a readerAction, applied at once
// or spooled while Redis is unreachable (spooled.go).

// Confirm activates the subscriber of a confirmation token. An unknown,
// forged or other-purpose token is ErrInvalidToken; an old one ErrExpired.
// While Redis is unreachable the confirmation is spooled (see Spool) and
// reported as Confirmed.
func (s *Service) Confirm(ctx context.Context, token, ip string) (ConfirmOutcome, error) {
	id, issued, err := s.tokens.Verify(PurposeConfirm, token)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC()
	if now.Sub(issued) > s.cfg.ConfirmTTL {
		return 0, ErrExpired
	}
	_, outcome, err := s.act(ctx, readerAction{Op: opConfirm, ID: id, At: now, IP: ip})
	if err != nil {
		return 0, err
	}
	return outcome, nil
}

// confirm applies a confirmation made at a.At.
func (s *Service) confirm(ctx context.Context, a readerAction) (digest.Subscriber, ConfirmOutcome, error) {
	outcome := NotConfirmable
	sub, err := s.store.UpdateSubscriber(ctx, a.ID, func(x *digest.Subscriber) error {
		switch x.Status {
		case digest.Active:
			outcome = AlreadyConfirmed
			return digest.ErrUnchanged
		case digest.Pending:
			outcome = Confirmed
			x.Status = digest.Active
			x.Consent.ConfirmedAt, x.Consent.ConfirmIP = a.At, a.IP
			return nil
		}
		outcome = NotConfirmable
		return digest.ErrUnchanged
	})
	if err != nil {
		return digest.Subscriber{}, 0, fmt.Errorf("subscription: confirm: %w", err)
	}
	if outcome == Confirmed {
		s.logger.Info("Subscriber confirmed", slog.Int64("subscriber", a.ID))
		if s.cfg.Welcomer != nil {
			// The confirmation stands whatever the welcome mail does.
			if err := s.cfg.Welcomer.Welcome(context.WithoutCancel(ctx), sub); err != nil {
				s.logger.Error("Unable to mail the latest edition to a new subscriber", slog.Int64("subscriber", a.ID), slog.Any("error", err))
			}
		}
	}
	return sub, outcome, nil
}

// Unsubscribe unsubscribes the subscriber of an unsubscribe or preferences
// token; how is "one-click", "link" or "preferences". Unsubscribing twice is
// not an error. While Redis is unreachable the change is spooled (see
// Spool) and the subscriber returned holds only its ID and new status.
func (s *Service) Unsubscribe(ctx context.Context, purpose Purpose, token, how string) (digest.Subscriber, error) {
	id, _, err := s.tokens.Verify(purpose, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	sub, _, err := s.act(ctx, readerAction{Op: opLeave, ID: id, At: s.now().UTC(), How: how})
	return sub, err
}

// leave applies an unsubscription made at a.At, logging it once: only when
// it changed something.
func (s *Service) leave(ctx context.Context, a readerAction) (digest.Subscriber, error) {
	changed := false
	sub, err := s.store.UpdateSubscriber(ctx, a.ID, func(x *digest.Subscriber) error {
		changed = false
		if x.Status != digest.Active && x.Status != digest.Pending {
			return digest.ErrUnchanged
		}
		x.Status = digest.Unsubscribed
		x.Consent.LeftAt, x.Consent.LeftHow = a.At, a.How
		changed = true
		return nil
	})
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: unsubscribe: %w", err)
	}
	if changed {
		s.logger.Info("Subscriber left", slog.Int64("subscriber", a.ID), slog.String("how", a.How))
	}
	return sub, nil
}

// SetFormat changes the mail format of the subscriber of a preferences
// token. While Redis is unreachable the change is spooled (see Spool).
func (s *Service) SetFormat(ctx context.Context, token string, format digest.MailFormat) (digest.Subscriber, error) {
	if !format.Valid() {
		return digest.Subscriber{}, &FieldError{Field: "format", Message: `must be "html" or "text"`}
	}
	id, _, err := s.tokens.Verify(PurposePreferences, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	sub, _, err := s.act(ctx, readerAction{Op: opFormat, ID: id, At: s.now().UTC(), Format: format})
	return sub, err
}

// setFormat applies a format change, logging it when it changed something.
func (s *Service) setFormat(ctx context.Context, a readerAction) (digest.Subscriber, error) {
	changed := false
	sub, err := s.store.UpdateSubscriber(ctx, a.ID, func(x *digest.Subscriber) error {
		changed = false
		if x.Format == a.Format {
			return digest.ErrUnchanged
		}
		x.Format = a.Format
		changed = true
		return nil
	})
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: set format: %w", err)
	}
	if changed {
		s.logger.Info("Subscriber changed format", slog.Int64("subscriber", a.ID), slog.String("format", string(a.Format)))
	}
	return sub, nil
}
