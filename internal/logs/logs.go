// Package logs holds the slog handlers serve's logger is wrapped in: one
// that keeps email addresses out of every line above debug level, and one
// that turns a Redis outage into two lines — when it starts and when it
// ends, with its length — instead of an error from every loop that polls
// Redis.
package logs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// address matches what looks like an email address in a log line.
var address = regexp.MustCompile(`[^\s<>"'(),;:\[\]]+@[A-Za-z0-9.\-\[\]:]+\.[A-Za-z]{2,}|[^\s<>"'(),;:\[\]]+@[A-Za-z0-9\-]+\.[A-Za-z0-9.\-]+`)

// Redacted is what an address becomes.
const Redacted = "<address>"

// Redact wraps next so that records above debug level carry no email
// address: in the message, in string attributes or in errors.
func Redact(next slog.Handler) slog.Handler { return redactor{next} }

type redactor struct{ next slog.Handler }

func (h redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h redactor) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a)
	}
	return redactor{h.next.WithAttrs(out)}
}
func (h redactor) WithGroup(name string) slog.Handler { return redactor{h.next.WithGroup(name)} }

func (h redactor) Handle(ctx context.Context, r slog.Record) error {
	if r.Level <= slog.LevelDebug {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, address.ReplaceAllString(r.Message, Redacted), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, address.ReplaceAllString(v.String(), Redacted))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = redactAttr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, address.ReplaceAllString(err.Error(), Redacted))
		}
	}
	return a
}

// Outage watches Redis: its handler (Handler) drops warnings and errors
// caused by Redis being unreachable while it is, and Run logs one line when
// an outage starts and one when it ends, with its length.
type Outage struct {
	logger *slog.Logger // unwrapped: its own lines are never dropped
	ping   func(ctx context.Context) error
	now    func() time.Time

	mu    sync.Mutex
	since time.Time // zero: Redis answers
	cause string
	quiet int // lines dropped during the outage
}

// NewOutage returns an Outage logging to logger (the unwrapped one) and
// checking Redis with ping.
func NewOutage(logger *slog.Logger, ping func(ctx context.Context) error, now func() time.Time) *Outage {
	return &Outage{logger: logger, ping: ping, now: now}
}

// Handler wraps next: a record above debug whose error says Redis cannot
// be reached opens the outage (one line) and is dropped, as are the
// following ones until Redis answers again.
func (o *Outage) Handler(next slog.Handler) slog.Handler { return outageHandler{o, next} }

type outageHandler struct {
	o    *Outage
	next slog.Handler
}

func (h outageHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h outageHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return outageHandler{h.o, h.next.WithAttrs(as)}
}
func (h outageHandler) WithGroup(name string) slog.Handler {
	return outageHandler{h.o, h.next.WithGroup(name)}
}

func (h outageHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var cause error
		r.Attrs(func(a slog.Attr) bool {
			if err, ok := a.Value.Resolve().Any().(error); ok && Unreachable(err) {
				cause = err
				return false
			}
			return true
		})
		if cause != nil && h.o.confirmDown(ctx, cause) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

// confirmDown reports whether Redis is down, as a record's error suggests:
// yes when an outage is open, or when a ping now fails (then it opens
// one). An error from something else (a mail server) is not taken for it.
func (o *Outage) confirmDown(ctx context.Context, cause error) bool {
	if o.Down() {
		o.mu.Lock()
		o.quiet++
		o.mu.Unlock()
		return true
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
	defer cancel()
	if err := o.ping(pctx); err == nil || !Unreachable(err) {
		return false
	}
	o.down(cause)
	return true
}

// down opens the outage, if it is not open, with one line.
func (o *Outage) down(cause error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		o.quiet++
		return
	}
	o.since, o.cause, o.quiet = o.now(), cause.Error(), 0
	o.logger.Error("Redis unreachable: reader actions are spooled, sending and building wait", slog.String("error", o.cause))
}

// up closes the outage, if open, with one line saying how long it lasted.
func (o *Outage) up() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	o.logger.Info("Redis reachable again", slog.Duration("down_for", o.now().Sub(o.since).Round(time.Millisecond)),
		slog.Int("lines_held_back", o.quiet))
	o.since = time.Time{}
}

// Down reports whether an outage is open.
func (o *Outage) Down() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.since.IsZero()
}

// Run pings Redis every interval until ctx ends, opening and closing the
// outage.
func (o *Outage) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, every+time.Second)
		err := o.ping(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			o.up()
		case Unreachable(err):
			o.down(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Unreachable reports whether err says Redis could not be reached (no
// connection, a dropped one, a timeout), as opposed to an answer.
func Unreachable(err error) bool {
	var ne net.Error
	var reply redis.Error
	switch {
	case err == nil, errors.As(err, &reply):
		return false
	case errors.As(err, &ne), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}
