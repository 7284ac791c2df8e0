// Package mailer composes broadsheet's emails (with go-mail) and delivers
// them through a Transport: an SMTP server, or a Maildir any mail client
// opens. Mailer ties the two together for the rest of the product.
package mailer

import (
	"context"
	"fmt"
	"log/slog"
)

// Mailer composes and delivers: what the rest of the product calls. It is
// safe for concurrent use when its Transport is (SMTP and Maildir are).
type Mailer struct {
	composer  *Composer
	transport Transport
	dkim      *DKIM
	logger    *slog.Logger
}

// New returns a Mailer composing with c, signing with dkim (nil: no
// signature) and delivering through t. A nil logger discards.
func New(c *Composer, t Transport, dkim *DKIM, logger *slog.Logger) *Mailer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mailer{composer: c, transport: t, dkim: dkim, logger: logger}
}

// Send composes msg and delivers it. Errors from a refused message wrap
// ErrInvalidMessage; delivery errors from SMTP are *SMTPError.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	composed, err := m.composer.Compose(msg)
	if err != nil {
		return err
	}
	env, data, err := renderMsg(composed)
	if err != nil {
		return err
	}
	if m.dkim != nil {
		sig, err := m.dkim.Sign(data)
		if err != nil {
			return fmt.Errorf("mailer: message to %q: %w", msg.To, err)
		}
		data = append(sig, data...)
	}
	if err := deliverRaw(ctx, m.transport, env, data); err != nil {
		return err
	}
	m.logger.Debug("Sent message", slog.String("to", msg.To), slog.String("message_id", composed.GetMessageID()))
	return nil
}

// Close closes the transport.
func (m *Mailer) Close() error { return m.transport.Close() }
