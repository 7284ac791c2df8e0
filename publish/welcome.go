package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/broadsheet-news/broadsheet/digest"
)

// WelcomeMailer mails one edition to one subscriber through the edition's
// ledger. mailer.Welcomer meets it.
type WelcomeMailer interface {
	Send(ctx context.Context, e digest.Edition, sub digest.Subscriber) (bool, error)
}

// Welcome mails a newly confirmed subscriber the latest edition at once,
// through its ledger: the edition's send (made later, or running) does
// not repeat it. subscription.Service calls it on every confirmation.
type Welcome struct {
	editions EditionStore
	mail     WelcomeMailer
	logger   *slog.Logger
}

// NewWelcome returns the welcome use case.
func NewWelcome(editions EditionStore, mail WelcomeMailer, logger *slog.Logger) *Welcome {
	return &Welcome{editions: editions, mail: mail, logger: logger}
}

// Welcome mails the latest edition to sub; with no edition yet, nothing.
func (w *Welcome) Welcome(ctx context.Context, sub digest.Subscriber) error {
	latest, err := w.editions.LatestEditions(ctx, 1)
	if err != nil {
		return fmt.Errorf("publish: welcome: %w", err)
	}
	if len(latest) == 0 {
		return nil
	}
	e := latest[0]
	sent, err := w.mail.Send(ctx, e, sub)
	if errors.Is(err, digest.ErrEmptyEdition) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("publish: welcome %s: %w", e.ID, err)
	}
	if sent {
		w.logger.Info("Mailed the latest edition to a new subscriber", slog.String("edition", e.ID), slog.Int64("subscriber", sub.ID))
	}
	return nil
}
