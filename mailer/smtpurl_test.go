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
