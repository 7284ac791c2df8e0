package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// SMTPOptions tune an SMTP transport.
type SMTPOptions struct {
	// TLSConfig is the TLS configuration to start from; nil trusts the
	// system's roots. Its ServerName defaults to the URL's host, and TLS
	// 1.2 is the least accepted. Tests pass one trusting their own
	// certificate.
	TLSConfig *tls.Config
	// Logger receives debug records of connections and deliveries (never
	// the password); nil discards.
	Logger *slog.Logger
}

// SMTP delivers through an SMTP server configured by URL:
//
//	smtp://user:pass@host:587        STARTTLS, required: no STARTTLS, no delivery
//	smtps://user:pass@host:465       implicit TLS
//	smtp://host:25?tls=none          plain text, for tests and local relays
//
// Optional parameters: timeout=30s bounds connecting and each read or write
// of the conversation (by default each step has RFC 5321 §4.5.3.2's
// timeout: 5 minutes for the greeting, MAIL and RCPT, 2 for DATA, 3 for
// each write of the message, 10 for the reply to the final dot); tls=none|starttls|implicit overrides
// the scheme's. The user and password are percent-decoded; a URL without a
// port gets 587 (smtp) or 465 (smtps). With a user, SMTP authenticates
// with AUTH PLAIN, or LOGIN when the server offers only that.
//
// Each Deliver opens its own connection, so SMTP is safe for concurrent
// use. Its String, and what it logs, never hold the password.
type SMTP struct {
	cfg       smtpConfig
	tlsConfig *tls.Config
	helo      string // the name SMTP gives in EHLO: this machine's
	logger    *slog.Logger
}

// NewSMTP returns an SMTP transport for rawURL. It does not connect: a bad
// URL is an error here, an unreachable server an error of Deliver.
func NewSMTP(rawURL string, opts SMTPOptions) (*SMTP, error) {
	cfg, err := parseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{}
	if opts.TLSConfig != nil {
		tlsConfig = opts.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = cfg.host
	}
	if tlsConfig.MinVersion < tls.VersionTLS12 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	helo, err := os.Hostname()
	if err != nil || helo == "" || hasLineBreak(helo) {
		helo = "localhost"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &SMTP{cfg: cfg, tlsConfig: tlsConfig, helo: helo, logger: logger}, nil
}

// String returns the URL with every setting spelled out and the password
// replaced by xxxxx.
func (s *SMTP) String() string { return s.cfg.redacted() }

// GoString is String, so that %#v does not print the password either.
func (s *SMTP) GoString() string { return s.String() }

// LogValue is String, for slog.
func (s *SMTP) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Deliver sends msg to its recipients — one transaction each, over one
// connection (Open, Conn.Send, QUIT). Errors are *SMTPError: errors.As
// gives the reply code, the enhanced code and whether to try again.
func (s *SMTP) Deliver(ctx context.Context, msg *gomail.Msg) error {
	env, data, err := renderMsg(msg)
	if err != nil {
		return err
	}
	return deliverRaw(ctx, s, env, data)
}

// deliverRaw sends data, a whole message, to the envelope's recipients —
// one transaction each, over one connection.
func deliverRaw(ctx context.Context, o Opener, env envelope, data []byte) error {
	conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	var sendErr error
	for _, to := range env.to {
		if sendErr = conn.Send(ctx, env.from, to, data); sendErr != nil {
			break
		}
	}
	// After a delivery, a failed QUIT changes nothing: the server has
	// taken the message.
	_ = conn.Close()
	return sendErr
}

// Close releases what SMTP holds open: nothing yet, as every delivery
// closes its connection.
func (s *SMTP) Close() error { return nil }

// envelope is the SMTP envelope of a composed message: the bare sender
// and recipient addresses.
type envelope struct {
	from string
	to   []string
}

// render writes a composed message (CRLF line endings) and reads its
// envelope, for a transport's Deliver.
func renderMsg(msg *gomail.Msg) (envelope, []byte, error) {
	from, err := msg.GetSender(false)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("mailer: deliver: %w: %w", ErrInvalidMessage, err)
	}
	to, err := msg.GetRecipients()
	if err != nil {
		return envelope{}, nil, fmt.Errorf("mailer: deliver: %w: %w", ErrInvalidMessage, err)
	}
	env := envelope{from: strings.Trim(from, "<>")}
	for _, t := range to {
		env.to = append(env.to, strings.Trim(t, "<>"))
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return envelope{}, nil, fmt.Errorf("mailer: deliver: render message: %w", err)
	}
	return env, buf.Bytes(), nil
}
