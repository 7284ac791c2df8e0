package mailer

import (
	"strings"
	"testing"
	"time"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url  string
		want smtpConfig
	}{
		{"smtp://bob:secret@mail.example.com", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 587, user: "bob", password: "secret", tls: tlsSTARTTLS}},
		{"smtps://bob:secret@mail.example.com", smtpConfig{scheme: "smtps", host: "mail.example.com", port: 465, user: "bob", password: "secret", tls: tlsImplicit}},
		{"smtp://mail.example.com:2525", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 2525, tls: tlsSTARTTLS}},
		{"smtp://127.0.0.1:25?tls=none&timeout=5s", smtpConfig{scheme: "smtp", host: "127.0.0.1", port: 25, tls: tlsNone, timeout: 5 * time.Second}},
		{"SMTP://mail.example.com/", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 587, tls: tlsSTARTTLS}},
		{"smtp://mail.example.com:465?tls=implicit", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 465, tls: tlsImplicit}},
		// Percent-encoded user and password are decoded.
		{"smtp://bob%40example.com:p%40ss%2Fw%3Ard@mail.example.com", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 587, user: "bob@example.com", password: "p@ss/w:rd", tls: tlsSTARTTLS}},
		{"smtp://[::1]:25?tls=none", smtpConfig{scheme: "smtp", host: "::1", port: 25, tls: tlsNone}},
		{"smtp://bob:secret@localhost:25?tls=none", smtpConfig{scheme: "smtp", host: "localhost", port: 25, user: "bob", password: "secret", tls: tlsNone}},
		// The port's range, both ends.
		{"smtp://mail.example.com:1", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 1, tls: tlsSTARTTLS}},
		{"smtp://mail.example.com:65535", smtpConfig{scheme: "smtp", host: "mail.example.com", port: 65535, tls: tlsSTARTTLS}},
		// A password in plain text only to this machine: any loopback address.
		{"smtp://bob:secret@LocalHost:25?tls=none", smtpConfig{scheme: "smtp", host: "LocalHost", port: 25, user: "bob", password: "secret", tls: tlsNone}},
		{"smtp://bob:secret@127.0.0.2:25?tls=none", smtpConfig{scheme: "smtp", host: "127.0.0.2", port: 25, user: "bob", password: "secret", tls: tlsNone}},
		{"smtp://bob:secret@[::1]:25?tls=none", smtpConfig{scheme: "smtp", host: "::1", port: 25, user: "bob", password: "secret", tls: tlsNone}},
		// Plain text without a password may go anywhere (a local relay by name).
		{"smtp://relay.internal:25?tls=none", smtpConfig{scheme: "smtp", host: "relay.internal", port: 25, tls: tlsNone}},
	}
	for _, tt := range tests {
		got, err := parseSMTPURL(tt.url)
		if err != nil {
			t.Errorf("parseSMTPURL(%q): %v", tt.url, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseSMTPURL(%q) = %+v, want %+v", tt.url, got, tt.want)
		}
	}
}

func TestParseSMTPURLErrors(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"ftp", "ftp://mail.example.com", "scheme"},
		{"no scheme", "mail.example.com:25", "scheme"},
		{"no host", "smtp://", "no host"},
		{"no host but a port", "smtp://:25", "no host"},
		{"opaque", "smtp:mail.example.com", "no host"},
		{"bad tls", "smtp://mail.example.com?tls=maybe", "tls=maybe"},
		{"bad timeout", "smtp://mail.example.com?timeout=soon", "timeout=soon"},
		{"zero timeout", "smtp://mail.example.com?timeout=0s", "timeout=0s"},
		{"unknown parameter", "smtp://mail.example.com?tsl=none", `"tsl"`},
		{"port 0", "smtp://mail.example.com:0", "port"},
		{"port too big", "smtp://mail.example.com:70000", "port"},
		{"port not a number", "smtp://mail.example.com:smtp", "port"},
		{"path", "smtp://mail.example.com/inbox", "path"},
		{"user without password", "smtp://bob@mail.example.com", "password"},
		{"password in the clear", "smtp://bob:secret@mail.example.com:25?tls=none", "unencrypted"},
		{"password in the clear to an address", "smtp://bob:secret@192.0.2.1:25?tls=none", "unencrypted"},
		{"password in the clear to a name", "smtp://bob:secret@localhost.example.com:25?tls=none", "unencrypted"},
		{"port one too big", "smtp://mail.example.com:65536", "port"},
		{"bad escape in password", "smtp://bob:se%zzcret@mail.example.com", "escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSMTPURL(tt.url)
			if err == nil {
				t.Fatalf("parseSMTPURL(%q) succeeded, want an error", tt.url)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mailer: BROADSHEET_SMTP_URL") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want it to start with mailer: BROADSHEET_SMTP_URL and mention %q", msg, tt.want)
			}
			if strings.Contains(msg, "secret") || strings.Contains(msg, "se%zzcret") || strings.Contains(msg, "zz") {
				t.Errorf("error %q holds the password", msg)
			}
		})
	}
}

// TestSMTPTimeouts: without ?timeout= every step waits as long as RFC 5321
// says; with it, every step waits that long.
func TestSMTPTimeouts(t *testing.T) {
	c, err := parseSMTPURL("smtp://mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := stepTimeouts{connect: 30 * time.Second, greeting: 5 * time.Minute, mail: 5 * time.Minute, rcpt: 5 * time.Minute,
		data: 2 * time.Minute, block: 3 * time.Minute, final: 10 * time.Minute}
	if got := c.timeouts(); got != want {
		t.Errorf("timeouts() = %+v, want RFC 5321's %+v", got, want)
	}
	c, err = parseSMTPURL("smtp://mail.example.com?timeout=7s")
	if err != nil {
		t.Fatal(err)
	}
	d := 7 * time.Second
	if got, want := c.timeouts(), (stepTimeouts{d, d, d, d, d, d, d}); got != want {
		t.Errorf("timeouts() with timeout=7s = %+v, want %+v", got, want)
	}
}

// TestSMTPConfigRedacted: the description spells out every setting, the
// timeout only when set, and never the password.
func TestSMTPConfigRedacted(t *testing.T) {
	tests := []struct{ url, want string }{
		{"smtp://bob:secret@mail.example.com?timeout=5s", "smtp://bob:xxxxx@mail.example.com:587?timeout=5s&tls=starttls"},
		{"smtp://mail.example.com:2525", "smtp://mail.example.com:2525?tls=starttls"},
		{"smtps://[2001:db8::1]", "smtps://[2001:db8::1]:465?tls=implicit"},
	}
	for _, tt := range tests {
		c, err := parseSMTPURL(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.redacted(); got != tt.want {
			t.Errorf("redacted(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
