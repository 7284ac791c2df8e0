package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

func TestRedactKeepsAddressesOutAboveDebug(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(Redact(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	smtpErr := fmt.Errorf("mailer: send: %w", errors.New("550 5.1.1 <ann.smith+news@mail.example.org>: no such user"))
	log.With("to", "bob@example.com").Warn("Mail to cy@example.net refused", slog.Any("error", smtpErr),
		slog.Group("g", slog.String("rcpt", "dee@example.co.uk")), slog.Int64("subscriber", 7))
	log.Debug("Sent", slog.String("to", "debug@example.com"))
	got := out.String()
	for _, leak := range []string{"ann.smith", "bob@", "cy@", "dee@", "mail.example.org"} {
		if strings.Contains(strings.SplitN(got, "\n", 2)[0], leak) {
			t.Errorf("warn line leaks %q: %s", leak, got)
		}
	}
	if !strings.Contains(got, "subscriber=7") || strings.Count(got, Redacted) != 4 {
		t.Errorf("want 4 redactions and the id kept: %s", got)
	}
	if !strings.Contains(got, "debug@example.com") {
		t.Errorf("debug lines keep the address (for debugging): %s", got)
	}
}

// An error that looks like a network failure from something other than
// Redis (Redis answers the ping) is logged as usual.
func TestOutageOnlyWhenRedisIsDown(t *testing.T) {
	var out bytes.Buffer
	base := slog.New(slog.NewTextHandler(&out, nil))
	redisDown := false
	o := NewOutage(base, func(context.Context) error {
		if redisDown {
			return &net.OpError{Op: "dial", Err: errors.New("connection refused")}
		}
		return nil
	}, time.Now)
	log := slog.New(o.Handler(base.Handler()))
	netErr := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	log.Error("SMTP server unreachable", slog.Any("error", netErr))
	redisDown = true
	for range 10 {
		log.Error("Unable to deliver queued mail", slog.Any("error", netErr))
	}
	redisDown = false
	o.up()
	got := out.String()
	if strings.Count(got, "SMTP server unreachable") != 1 || strings.Count(got, "Redis unreachable") != 1 ||
		strings.Count(got, "Unable to deliver") != 0 || !strings.Contains(got, "lines_held_back=9") {
		t.Errorf("log:\n%s", got)
	}
}
