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
// then (a crash, a mail server saying "later"), it is tried again.
const outboxLease = time.Minute

// DeliverQueued sends the mails waiting in the outbox and returns how many
// jobs it handled. serve runs it all the time (RunOutbox); the CLI runs it
// once after queueing a mail.
func (s *Service) DeliverQueued(ctx context.Context) (int, error) {
	for n := 0; ; n++ {
		job, ok, err := s.store.ClaimMail(ctx, s.now(), outboxLease)
		if err != nil || !ok {
			return n, err
		}
		if s.deliver(ctx, job) {
			if err := s.store.AckMail(ctx, job); err != nil {
				return n, err
			}
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

// deliver sends one outbox job and reports whether it is done with (sent,
// or not to be sent); false leaves it to be tried again after its lease.
func (s *Service) deliver(ctx context.Context, job string) bool {
	var id, queued int64
	if _, err := fmt.Sscanf(job, "confirm:%d:%d", &id, &queued); err != nil {
		s.logger.Error("Dropping an unreadable outbox job", slog.String("job", job))
		return true
	}
	if s.now().Sub(time.Unix(0, queued)) > s.cfg.ConfirmTTL {
		s.logger.Warn("Dropping a confirmation mail that could not be sent in time", slog.Int64("subscriber", id))
		return true
	}
	sub, err := s.store.Subscriber(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		return true // erased meanwhile
	}
	if err != nil {
		s.logger.Error("Unable to read a subscriber to mail", slog.Int64("subscriber", id), slog.Any("error", err))
		return false
	}
	if sub.Status != digest.Pending && sub.Status != digest.Active {
		return true
	}
	subject, text, html, err := s.cfg.RenderConfirmation(ConfirmationMail{
		SiteTitle:      s.cfg.Title,
		Name:           sub.Name,
		ConfirmURL:     s.link("confirm", s.tokens.Sign(PurposeConfirm, sub.ID, s.now())),
		PreferencesURL: s.PreferencesURL(sub.ID),
		AlreadyActive:  sub.Status == digest.Active,
	})
	if err != nil {
		s.logger.Error("Unable to render the confirmation mail", slog.Any("error", err))
		return false
	}
	msg := mailer.Message{To: sub.Email, ToName: sub.Name, Subject: subject, Text: text, HTML: html}
	if s.cfg.ReturnPath != nil {
		msg.EnvelopeFrom = s.cfg.ReturnPath(sub.ID, s.now())
	}
	err = s.mail.Send(ctx, msg)
	var se *mailer.SMTPError
	switch {
	case err == nil:
		s.logger.Info("Confirmation mail sent", slog.Int64("subscriber", id))
		return true
	case errors.As(err, &se) && mailer.IsBounce(se):
		// The address does not exist: no point trying again.
		s.logger.Warn("Confirmation mail bounced", slog.Int64("subscriber", id), slog.Any("error", err))
		if _, err := s.store.Bounce(ctx, id, s.now().UTC()); err != nil {
			s.logger.Error("Unable to mark a subscriber bounced", slog.Int64("subscriber", id), slog.Any("error", err))
		}
		return true
	}
	s.logger.Warn("Confirmation mail not sent; will try again", slog.Int64("subscriber", id),
		slog.Duration("in", outboxLease), slog.Any("error", err))
	return false
}
