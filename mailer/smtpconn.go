package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"slices"
	"strings"

	"github.com/wneessen/go-mail/smtp"
)

// smtpConn is one connection to the SMTP server, greeted, encrypted and
// authenticated as the URL asks. It speaks through go-mail's SMTP client;
// the steps are driven here rather than by go-mail's Client so that each
// failure says which step failed with the server's own reply, and so the
// context can cut any step short.
type smtpConn struct {
	s      *SMTP
	conn   *deadlineConn
	client *smtp.Client
	// timeouts bound each step.
	timeouts stepTimeouts
	// broken is set once the connection cannot carry another transaction
	// (a network failure, a context that ended); close then skips QUIT.
	broken bool
	// wbuf is reused for each message's dot-stuffed DATA.
	wbuf []byte
}

// connect opens a connection ready for MAIL FROM.
func (s *SMTP) connect(ctx context.Context) (*smtpConn, error) {
	addr := s.cfg.addr()
	timeouts := s.cfg.timeouts()
	dialer := net.Dialer{Timeout: timeouts.connect}
	raw, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, smtpFailure("CONNECT", "cannot connect to SMTP server "+addr, contextError(ctx, err))
	}
	dc := newDeadlineConn(raw, timeouts.greeting)
	unbind := dc.bind(ctx)
	defer unbind()

	c := &smtpConn{s: s, conn: dc, timeouts: timeouts}
	if err := c.open(ctx); err != nil {
		// After a reply, or a refusal of ours, the server still listens:
		// say QUIT. After a network or TLS failure, just hang up.
		c.broken = err.Code == 0 && err.err != nil
		_ = c.close()
		return nil, err
	}
	s.logger.Debug("Connected to SMTP server", slog.String("server", addr),
		slog.String("tls", string(s.cfg.tls)), slog.String("user", s.cfg.user))
	return c, nil
}

// open runs the conversation up to authentication.
func (c *smtpConn) open(ctx context.Context) *SMTPError {
	cfg, addr := c.s.cfg, c.s.cfg.addr()
	var conn net.Conn = c.conn
	if cfg.tls == tlsImplicit {
		tc := tls.Client(c.conn, c.s.tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return smtpFailure("TLS", "TLS handshake with SMTP server "+addr+" failed", contextError(ctx, err))
		}
		conn = tc
	}
	// NewClient reads the greeting.
	client, err := smtp.NewClient(conn, cfg.host)
	if err != nil {
		return smtpFailure("CONNECT", "SMTP server "+addr+" did not accept the connection", contextError(ctx, err))
	}
	c.client = client
	if err := client.Hello(c.s.helo); err != nil {
		return smtpFailure("EHLO", "SMTP server "+addr+" refused EHLO", contextError(ctx, err))
	}
	if cfg.tls == tlsSTARTTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return smtpRefusal("STARTTLS", "SMTP server "+addr+" does not offer STARTTLS, which tls=starttls "+
				"(the default of smtp://) requires; use smtps:// for implicit TLS, or tls=none for a local relay")
		}
		if err := client.StartTLS(c.s.tlsConfig); err != nil {
			return smtpFailure("STARTTLS", "STARTTLS with SMTP server "+addr+" failed", contextError(ctx, err))
		}
	}
	if cfg.user != "" {
		return c.auth(ctx)
	}
	return nil
}

// auth authenticates with PLAIN, or LOGIN when the server offers only that.
func (c *smtpConn) auth(ctx context.Context) *SMTPError {
	cfg, addr := c.s.cfg, c.s.cfg.addr()
	ok, offered := c.client.Extension("AUTH")
	if !ok {
		return smtpRefusal("AUTH", "SMTP server "+addr+" does not offer authentication (AUTH), "+
			"but the URL has a user (on some servers only after STARTTLS)")
	}
	mechanisms := strings.Fields(strings.ToUpper(offered))
	// A password is sent unencrypted only with tls=none, which the URL
	// allows only towards this machine.
	plainText := cfg.tls == tlsNone
	var auth smtp.Auth
	switch {
	case slices.Contains(mechanisms, "PLAIN"):
		auth = smtp.PlainAuth("", cfg.user, cfg.password, cfg.host, plainText)
	case slices.Contains(mechanisms, "LOGIN"):
		auth = smtp.LoginAuth(cfg.user, cfg.password, cfg.host, plainText)
	default:
		return smtpRefusal("AUTH", fmt.Sprintf("SMTP server %s offers AUTH %s; broadsheet speaks PLAIN and LOGIN", addr, offered))
	}
	if err := c.client.Auth(auth); err != nil {
		return smtpFailure("AUTH", fmt.Sprintf("SMTP authentication failed for user %q at %s", cfg.user, addr), contextError(ctx, err))
	}
	return nil
}

// fail describes a failed transaction step. After a reply the transaction
// is reset so the connection can carry the next one; after anything else
// the connection is broken.
func (c *smtpConn) fail(ctx context.Context, command, what string, err error) error {
	err = contextError(ctx, err)
	var reply *textproto.Error
	if !errors.As(err, &reply) {
		c.broken = true
	} else if !c.broken {
		if rerr := c.client.Reset(); rerr != nil {
			c.broken = true
		}
	}
	return smtpFailure(command, what, err)
}

// close says QUIT, unless the connection is broken, and closes it.
func (c *smtpConn) close() error {
	defer c.conn.Close()
	if c.broken || c.client == nil || !c.client.HasConnection() {
		return nil
	}
	return c.client.Quit()
}

// contextError returns the context's error in place of err when the
// context ended (cutting the connection short shows as a timeout), unless
// err is the server's reply, which stands.
func contextError(ctx context.Context, err error) error {
	var reply *textproto.Error
	if ctx.Err() == nil || errors.As(err, &reply) || errors.Is(err, ctx.Err()) {
		return err
	}
	return ctx.Err()
}
