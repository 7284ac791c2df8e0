package mailer

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// tlsMode is how an SMTP connection is encrypted.
type tlsMode string

// The TLS modes, as the tls= parameter of an SMTP URL names them.
const (
	tlsNone     tlsMode = "none"     // plain text, for tests and local relays
	tlsSTARTTLS tlsMode = "starttls" // upgrade with STARTTLS, required
	tlsImplicit tlsMode = "implicit" // TLS from the first byte (smtps)
)

// stepTimeouts bound each step of an SMTP conversation: connecting, and
// waiting for each reply or for each write to go through.
type stepTimeouts struct {
	connect  time.Duration // the TCP connection
	greeting time.Duration // the greeting, EHLO, STARTTLS, AUTH, QUIT
	mail     time.Duration // MAIL FROM's reply
	rcpt     time.Duration // RCPT TO's reply
	data     time.Duration // DATA's reply (354)
	block    time.Duration // each write of the message
	final    time.Duration // the reply to the final dot
}

// rfc5321Timeouts are RFC 5321 §4.5.3.2's: a server that takes its time
// over a message (a content scan, a slow disk) is waited for — cutting the
// wait for the final reply short risks a second copy, as the server may
// take the first after all. Connecting gets Postfix's 30 s.
var rfc5321Timeouts = stepTimeouts{
	connect:  30 * time.Second,
	greeting: 5 * time.Minute,
	mail:     5 * time.Minute,
	rcpt:     5 * time.Minute,
	data:     2 * time.Minute,
	block:    3 * time.Minute,
	final:    10 * time.Minute,
}

// timeouts returns the URL's timeout for every step when it sets one,
// else RFC 5321's.
func (c smtpConfig) timeouts() stepTimeouts {
	if d := c.timeout; d > 0 {
		return stepTimeouts{d, d, d, d, d, d, d}
	}
	return rfc5321Timeouts
}

// smtpConfig is an SMTP URL, parsed and checked.
type smtpConfig struct {
	scheme   string
	host     string
	port     int
	user     string
	password string
	tls      tlsMode
	timeout  time.Duration // ?timeout=: bounds every step; 0: RFC 5321's
}

// addr is host:port.
func (c smtpConfig) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

// redacted is the URL with every setting spelled out and the password
// replaced, for logs and errors.
func (c smtpConfig) redacted() string {
	u := url.URL{Scheme: c.scheme, Host: c.addr()}
	if c.user != "" {
		u.User = url.UserPassword(c.user, "xxxxx")
	}
	q := url.Values{}
	q.Set("tls", string(c.tls))
	if c.timeout > 0 {
		q.Set("timeout", c.timeout.String())
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// parseSMTPURL reads an SMTP URL:
//
//	smtp://user:pass@host:587        STARTTLS, required
//	smtps://user:pass@host:465       implicit TLS
//	smtp://host:25?tls=none          plain text
//
// with the optional parameters timeout (a duration) and tls (none,
// starttls or implicit). Errors never hold the password.
func parseSMTPURL(raw string) (smtpConfig, error) {
	const env = "BROADSHEET_SMTP_URL"
	const want = "want smtp://user:password@host:587 or smtps://user:password@host:465"
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included; its inner
		// error quotes only a port or a host, except an escape error,
		// which may quote part of the password.
		var uerr *url.Error
		var eerr url.EscapeError
		switch {
		case errors.As(err, &eerr):
			return smtpConfig{}, fmt.Errorf("mailer: %s is not a valid URL: it has a malformed %%-escape (%s)", env, want)
		case errors.As(err, &uerr):
			return smtpConfig{}, fmt.Errorf("mailer: %s is not a valid URL (%s): %w", env, want, uerr.Err)
		}
		return smtpConfig{}, fmt.Errorf("mailer: %s is not a valid URL (%s)", env, want)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mailer: %s %q: %s", env, u.Redacted(), fmt.Sprintf(format, args...))
	}

	c := smtpConfig{scheme: u.Scheme, host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		c.port, c.tls = 587, tlsSTARTTLS
	case "smtps":
		c.port, c.tls = 465, tlsImplicit
	default:
		return smtpConfig{}, bad("the scheme must be smtp or smtps (%s)", want)
	}
	if u.Opaque != "" || c.host == "" {
		return smtpConfig{}, bad("no host (%s)", want)
	}
	if u.Path != "" && u.Path != "/" {
		return smtpConfig{}, bad("an SMTP URL has no path, this one has %q", u.Path)
	}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return smtpConfig{}, bad("port %q is not a number from 1 to 65535", p)
		}
		c.port = port
	}
	if u.User != nil {
		// url.Parse has already decoded both.
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
		if c.user == "" || c.password == "" {
			return smtpConfig{}, bad("give both a user and a password, or neither")
		}
	}

	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return smtpConfig{}, bad("the parameters are malformed: %v", err)
	}
	for key, values := range query {
		value := values[len(values)-1]
		switch key {
		case "tls":
			switch mode := tlsMode(strings.ToLower(value)); mode {
			case tlsNone, tlsSTARTTLS, tlsImplicit:
				c.tls = mode
			default:
				return smtpConfig{}, bad("tls=%s: want none, starttls or implicit", value)
			}
		case "timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return smtpConfig{}, bad("timeout=%s: want a positive duration such as 30s", value)
			}
			c.timeout = d
		default:
			return smtpConfig{}, bad("unknown parameter %q (known: timeout, tls)", key)
		}
	}

	if c.tls == tlsNone && c.user != "" && !isLoopback(c.host) {
		return smtpConfig{}, bad("tls=none would send %q's password unencrypted to %s; "+
			"drop tls=none (smtp:// requires STARTTLS) or use smtps://", c.user, c.host)
	}
	return c, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
