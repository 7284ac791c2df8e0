package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"strings"

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
	// Opener opens connections for pre-built (signed) messages.
	Opener
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
// DATA and one write — pipelined (RFC 2920) when the server offers it, so
// a message costs two round trips instead of four. A refused command is
// reset (RSET) so the connection carries the next; a network failure
// breaks it.
func (c *smtpConn) Send(ctx context.Context, from, to string, msg []byte) error {
	if strings.ContainsAny(from+to, "\r\n<>") {
		return fmt.Errorf("mailer: %w: an envelope address with a line break or angle bracket", ErrInvalidMessage)
	}
	to, utf8Local, err := asciiDomain(to)
	if err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	if utf8Local {
		if ok, _ := c.client.Extension("SMTPUTF8"); !ok {
			return errNoSMTPUTF8(to, c.s.cfg.addr())
		}
	}
	unbind := c.conn.bind(ctx)
	defer unbind()
	if ok, _ := c.client.Extension("PIPELINING"); ok {
		return c.sendPipelined(ctx, from, to, msg, utf8Local)
	}
	addr := c.s.cfg.addr()
	c.conn.setTimeout(c.timeouts.mail)
	if err := c.client.Mail("<" + from + ">"); err != nil {
		return c.fail(ctx, "MAIL FROM", fmt.Sprintf("SMTP server %s refused sender <%s>", addr, from), err)
	}
	c.conn.setTimeout(c.timeouts.rcpt)
	if err := c.client.Rcpt("<" + to + ">"); err != nil {
		return c.fail(ctx, "RCPT TO", fmt.Sprintf("SMTP server %s refused recipient <%s>", addr, to), err)
	}
	c.conn.setTimeout(c.timeouts.data)
	w, err := c.client.Data()
	if err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused DATA for %s", addr, to), err)
	}
	c.conn.setTimeout(c.timeouts.block)
	if _, err := w.Write(msg); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("sending the message for %s to SMTP server %s failed", to, addr), err)
	}
	c.conn.setTimeout(c.timeouts.final)
	if err := w.Close(); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused the message for %s", addr, to), err)
	}
	c.delivered(to)
	c.conn.setTimeout(c.timeouts.greeting)
	return nil
}

// sendPipelined writes MAIL FROM, RCPT TO and DATA at once and reads the
// three replies, then sends the message and reads the last reply.
func (c *smtpConn) sendPipelined(ctx context.Context, from, to string, msg []byte, smtputf8 bool) error {
	addr := c.s.cfg.addr()
	text := c.client.Text
	c.conn.setTimeout(c.timeouts.mail)
	param := ""
	if smtputf8 {
		param = " SMTPUTF8"
	}
	if _, err := fmt.Fprintf(text.W, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n", from, param, to); err != nil {
		return c.fail(ctx, "MAIL FROM", fmt.Sprintf("sending to SMTP server %s failed", addr), err)
	}
	if err := text.W.Flush(); err != nil {
		return c.fail(ctx, "MAIL FROM", fmt.Sprintf("sending to SMTP server %s failed", addr), err)
	}
	// Every command gets its reply, whatever the earlier ones said.
	_, _, mailErr := text.ReadResponse(250)
	if mailErr != nil && !isReply(mailErr) {
		return c.fail(ctx, "MAIL FROM", fmt.Sprintf("SMTP server %s refused sender <%s>", addr, from), mailErr)
	}
	c.conn.setTimeout(c.timeouts.rcpt)
	_, _, rcptErr := text.ReadResponse(25)
	if rcptErr != nil && !isReply(rcptErr) {
		return c.fail(ctx, "RCPT TO", fmt.Sprintf("SMTP server %s refused recipient <%s>", addr, to), rcptErr)
	}
	c.conn.setTimeout(c.timeouts.data)
	_, _, dataErr := text.ReadResponse(354)
	if dataErr != nil && !isReply(dataErr) {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused DATA for %s", addr, to), dataErr)
	}
	if mailErr != nil || rcptErr != nil || dataErr != nil {
		if dataErr == nil {
			// The server waits for a message: end an empty one. Its reply
			// does not matter; fail's RSET forgets the transaction.
			if _, err := text.W.WriteString(".\r\n"); err == nil && text.W.Flush() == nil {
				_, _, _ = text.ReadResponse(250)
			} else {
				c.broken = true
			}
		}
		switch {
		case mailErr != nil:
			return c.fail(ctx, "MAIL FROM", fmt.Sprintf("SMTP server %s refused sender <%s>", addr, from), mailErr)
		case rcptErr != nil:
			return c.fail(ctx, "RCPT TO", fmt.Sprintf("SMTP server %s refused recipient <%s>", addr, to), rcptErr)
		default:
			return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused DATA for %s", addr, to), dataErr)
		}
	}
	// One write of the whole dot-stuffed message: textproto's DotWriter
	// goes byte by byte, which cost more CPU than everything else here.
	c.wbuf = appendDotStuffed(c.wbuf[:0], msg)
	c.conn.setTimeout(c.timeouts.block)
	if _, err := text.W.Write(c.wbuf); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("sending the message for %s to SMTP server %s failed", to, addr), err)
	}
	if err := text.W.Flush(); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("sending the message for %s to SMTP server %s failed", to, addr), err)
	}
	c.conn.setTimeout(c.timeouts.final)
	if _, _, err := text.ReadResponse(250); err != nil {
		return c.fail(ctx, "DATA", fmt.Sprintf("SMTP server %s refused the message for %s", addr, to), err)
	}
	c.delivered(to)
	c.conn.setTimeout(c.timeouts.greeting)
	return nil
}

// delivered logs (at debug level) a message the server took.
func (c *smtpConn) delivered(to string) {
	c.s.logger.Debug("Delivered message", slog.String("server", c.s.cfg.addr()), slog.String("to", to))
}

// appendDotStuffed appends msg (CRLF line endings) as the DATA of an SMTP
// transaction (RFC 5321 §4.5.2): a "." doubled at the start of every line,
// then the final CRLF "." CRLF.
func appendDotStuffed(dst, msg []byte) []byte {
	crlf, crlfDot := []byte("\r\n"), []byte("\r\n.")
	if len(msg) > 0 && msg[0] == '.' {
		dst = append(dst, '.')
	}
	for {
		i := bytes.Index(msg, crlfDot)
		if i < 0 {
			dst = append(dst, msg...)
			break
		}
		dst = append(dst, msg[:i+2]...)
		dst = append(dst, '.')
		msg = msg[i+2:]
	}
	if !bytes.HasSuffix(dst, crlf) {
		dst = append(dst, crlf...)
	}
	return append(dst, '.', '\r', '\n')
}

// isReply reports whether err is the server's reply (not a broken
// connection).
func isReply(err error) bool {
	var reply *textproto.Error
	return errors.As(err, &reply)
}

// Broken reports whether the connection can carry another transaction.
func (c *smtpConn) Broken() bool { return c.broken || c.client == nil || !c.client.HasConnection() }

// Close says QUIT (unless the connection is broken) and hangs up.
func (c *smtpConn) Close() error { return c.close() }
