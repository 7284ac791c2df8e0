package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// outboxLease is how long a claimed outbox job is its sender's: unsent by
// then (a crash), it is tried again.
const outboxLease = time.Minute

// maxOutboxBackoff bounds the wait between two tries of a confirmation
// mail the mail server keeps refusing for now.
const maxOutboxBackoff = 6 * time.Hour

// outboxBackoff is how long to wait before trying again a mail queued at
// queued and refused for now at now: as long as it has waited already,
// from one minute to six hours — tries at 0, 1, 2, 4, 8 … minutes, about
// fifteen in the two days a confirmation link lasts.
func outboxBackoff(queued, now time.Time) time.Duration {
	return min(max(now.Sub(queued), time.Minute), maxOutboxBackoff)
}

// DeliverQueued sends the mails waiting in the outbox and returns how many
// jobs it handled. serve runs it all the time (RunOutbox); the CLI runs it
// once after queueing a mail.
func (s *Service) DeliverQueued(ctx context.Context) (int, error) {
	for n := 0; ; n++ {
		job, ok, err := s.store.ClaimMail(ctx, s.now(), outboxLease)
		if err != nil || !ok {
			return n, err
		}
		if retryAt := s.deliver(ctx, job); retryAt.IsZero() {
			if err := s.store.AckMail(ctx, job); err != nil {
				return n, err
			}
		} else if err := s.store.DeferMail(ctx, job, retryAt); err != nil {
			return n, err
		}
	}
}

// RunOutbox delivers queued mails until ctx ends, looking every poll.
func (s *Service) RunOutbox(ctx context.Context, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := s.DeliverQueued(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("Unable to deliver queued mail", slog.Any("error", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deliver sends one outbox job and returns when to try it again: zero
// when it is done with (sent, or not to be sent).
func (s *Service) deliver(ctx context.Context, job string) time.Time {
	var id, queued int64
	if _, err := fmt.Sscanf(job, "confirm:%d:%d", &id, &queued); err != nil {
		s.logger.Error("Dropping an unreadable outbox job", slog.String("job", job))
		return time.Time{}
	}
	now := s.now()
	queuedAt := time.Unix(0, queued)
	if now.Sub(queuedAt) > s.cfg.ConfirmTTL {
		s.logger.Warn("Dropping a confirmation mail that could not be sent in time", slog.Int64("subscriber", id))
		return time.Time{}
	}
	later := now.Add(outboxBackoff(queuedAt, now))
	sub, err := s.store.Subscriber(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		return time.Time{} // erased meanwhile
	}
	if err != nil {
		s.logger.Error("Unable to read a subscriber to mail", slog.Int64("subscriber", id), slog.Any("error", err))
		return now.Add(outboxLease)
	}
	if sub.Status != digest.Pending && sub.Status != digest.Active {
		return time.Time{}
	}
	subject, text, html, err := s.cfg.RenderConfirmation(ConfirmationMail{
		SiteTitle:      s.cfg.Title,
		SiteURL:        s.cfg.BaseURL.String(),
		Frequency:      s.cfg.Frequency,
		ConfirmURL:     s.link("confirm", s.tokens.Sign(PurposeConfirm, sub.ID, now)),
		PreferencesURL: s.PreferencesURL(sub.ID),
		AlreadyActive:  sub.Status == digest.Active,
	})
	if err != nil {
		s.logger.Error("Unable to render the confirmation mail", slog.Any("error", err))
		return later
	}
	msg := mailer.Message{To: sub.Email, Subject: subject, Text: text, HTML: html}
	if s.cfg.ReturnPath != nil {
		msg.EnvelopeFrom = s.cfg.ReturnPath(sub.ID, now)
	}
	err = s.mail.Send(ctx, msg)
	var se *mailer.SMTPError
	switch {
	case err == nil:
		s.logger.Info("Confirmation mail sent", slog.Int64("subscriber", id))
		return time.Time{}
	case errors.Is(err, mailer.ErrInvalidMessage):
		s.logger.Warn("Confirmation mail cannot be sent; given up", slog.Int64("subscriber", id), slog.Any("error", err))
		return time.Time{}
	case errors.As(err, &se) && mailer.ClassifyRefusal(se) == mailer.RecipientBounced:
		// The address does not exist: no point trying again.
		s.logger.Warn("Confirmation mail bounced; given up", slog.Int64("subscriber", id), slog.String("reply", se.Error()))
		if _, err := s.store.Bounce(ctx, id, now.UTC()); err != nil {
			s.logger.Error("Unable to mark a subscriber bounced", slog.Int64("subscriber", id), slog.Any("error", err))
		}
		return time.Time{}
	case errors.As(err, &se) && mailer.ClassifyRefusal(se) == mailer.RecipientFailed:
		// Refused for good by the recipient's side (a policy, the
		// content): trying again changes nothing. The reader stays
		// pending and may subscribe again.
		s.logger.Warn("Confirmation mail refused; given up", slog.Int64("subscriber", id), slog.String("reply", se.Error()))
		return time.Time{}
	}
	// For now (4xx, the network), or the sender's problem (an account, a
	// certificate) that an admin may fix: try again, later each time.
	s.logger.Warn("Confirmation mail not sent; will try again", slog.Int64("subscriber", id),
		slog.Time("at", later), slog.Any("error", err))
	return later
}
