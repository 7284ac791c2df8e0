// Package mailer composes broadsheet's emails (with go-mail) and delivers
// them through a Transport: an SMTP server, or a Maildir any mail client
// opens. Mailer ties the two together for the rest of the product.
package mailer

import (
	"context"
	"log/slog"
)

// Mailer composes and delivers: what the rest of the product calls. It is
// safe for concurrent use when its Transport is (SMTP and Maildir are).
type Mailer struct {
	composer  *Composer
	transport Transport
	logger    *slog.Logger
}

// New returns a Mailer composing with c and delivering through t. A nil
// logger discards.
func New(c *Composer, t Transport, logger *slog.Logger) *Mailer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mailer{composer: c, transport: t, logger: logger}
}

// Send composes msg and delivers it. Errors from a refused message wrap
// ErrInvalidMessage; delivery errors from SMTP are *SMTPError.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	composed, err := m.composer.Compose(msg)
	if err != nil {
		return err
	}
	if err := m.transport.Deliver(ctx, composed); err != nil {
		return err
	}
	m.logger.Debug("Sent message", slog.String("to", msg.To), slog.String("message_id", composed.GetMessageID()))
	return nil
}

// Close closes the transport.
func (m *Mailer) Close() error { return m.transport.Close() }
