package mailer

import (
	"context"
	"fmt"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers composed messages. SMTP and Maildir are safe for
// concurrent use.
type Transport interface {
	// Deliver hands msg to the next hop. A nil error means the next hop
	// took responsibility for it: an SMTP server answered 250, or the file
	// is in the Maildir's new/.
	Deliver(ctx context.Context, msg *gomail.Msg) error
	// Close releases what the transport holds open.
	Close() error
}

// Conn is one open connection of a transport, through which the delivery
// engine sends pre-built messages one after the other.
type Conn interface {
	// Send hands msg (complete, with CRLF line endings) to the next hop
	// for the envelope from → to (bare addresses). Errors are *SMTPError
	// for SMTP.
	Send(ctx context.Context, from, to string, msg []byte) error
	// Broken reports that the connection can carry no more messages: the
	// engine opens another.
	Broken() bool
	Close() error
}

// Opener opens Conns. SMTP and Maildir meet it.
type Opener interface {
	Open(ctx context.Context) (Conn, error)
}

// Open returns a Conn writing into the Maildir.
func (m *Maildir) Open(ctx context.Context) (Conn, error) { return maildirConn{m}, nil }

type maildirConn struct{ m *Maildir }

func (c maildirConn) Send(ctx context.Context, _, _ string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mailer: deliver to Maildir: %w", err)
	}
	return c.m.write(msg)
}

func (maildirConn) Broken() bool { return false }
func (maildirConn) Close() error { return nil }

// Open opens a persistent connection to the SMTP server: greeted,
// encrypted and authenticated, ready for one transaction after another.
func (s *SMTP) Open(ctx context.Context) (Conn, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Send runs one transaction with a pre-built message: MAIL FROM, RCPT TO,
// DATA and one write. A refused command is reset (RSET) so the connection
// carries the next; a network failure breaks it.
func (c *smtpConn) Send(ctx context.Context, from, to string, msg []byte) error {
	unbind := c.conn.bind(ctx)
	defer unbind()
	addr := c.s.cfg.addr()
	if err := c.client.Mail(from); err != nil {
		return c.fail(ctx, "MAIL FROM", fmt.Sprintf("SMTP server %s refused sender %s", addr, from), err)
	}
	if err := c.client.Rcpt(to); err != nil {
		return c.fail(ctx, "RCPT TO", fmt.Sprintf("SMTP server %s refused recipient %s", addr, to), err)
	}
	w, err := c.client.Data()
	if err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused DATA for %s", addr, to), err)
	}
	if _, err := w.Write(msg); err != nil {
		c.broken = true
		return c.fail(ctx, "DATA", fmt.Sprintf("sending the message for %s to SMTP server %s failed", to, addr), err)
	}
	if err := w.Close(); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused the message for %s", addr, to), err)
	}
	return nil
}

// Broken reports whether the connection can carry another transaction.
func (c *smtpConn) Broken() bool { return c.broken || c.client == nil || !c.client.HasConnection() }

// Close says QUIT (unless the connection is broken) and hangs up.
func (c *smtpConn) Close() error { return c.close() }
