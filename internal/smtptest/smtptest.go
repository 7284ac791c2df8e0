// Package smtptest runs a real SMTP server (emersion/go-smtp) in-process for
// tests: it records every message it accepts, counts connections,
// transactions and deliveries per recipient, can be told to refuse
// recipients, and can inject faults (451 replies, dropped connections, a
// slow DATA, a 5.7.1 policy block) deterministically; see [Faults].
package smtptest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Parsed parses the message with net/mail.
func (m Message) Parsed(tb testing.TB) *mail.Message {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		tb.Fatalf("smtptest: message does not parse: %v", err)
	}
	return msg
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port on loopback

	mu       sync.Mutex
	messages []Message
	// RcptError, when set, answers RCPT TO for an address: return an
	// *smtp.SMTPError (e.g. 550 5.1.1) to refuse it, nil to accept.
	rcptError func(to string) error
	arrived   chan struct{}
	received  map[string]int // normalised recipient → messages accepted

	faults       atomic.Pointer[faultState]
	connections  atomic.Int64  // TCP connections accepted
	transactions atomic.Int64  // DATA ends answered (250 or 451)
	closed       chan struct{} // closed when the test ends: cuts DataDelay short
}

// Start starts a server on a free loopback port, stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// Options change what the server offers.
type Options struct {
	// SMTPUTF8 offers SMTPUTF8 (RFC 6531): addresses beyond ASCII.
	SMTPUTF8 bool
}

// StartWith starts a server offering what opts say.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{
		arrived:  make(chan struct{}, 1),
		received: make(map[string]int),
		closed:   make(chan struct{}),
	}
	s.faults.Store(&faultState{})
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	// Connections the tests drop on purpose are not news.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = opts.SMTPUTF8
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	s.Addr = l.Addr().String()
	go func() { _ = srv.Serve(countingListener{l, &s.connections}) }()
	tb.Cleanup(func() {
		close(s.closed)
		_ = srv.Close()
	})
	return s
}

// URL is the server's BROADSHEET_SMTP_URL.
func (s *Server) URL() string { return "smtp://" + s.Addr + "?tls=none" }

// RefuseRecipients sets how RCPT TO is answered (nil: accept all).
func (s *Server) RefuseRecipients(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptError = f
}

// Messages returns a copy of the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor waits until at least n messages have arrived, or fails the test
// after timeout.
func (s *Server) WaitFor(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	if !s.Reached(n, timeout) {
		tb.Fatalf("smtptest: %d message(s) arrived within %v, want %d", len(s.Messages()), timeout, n)
	}
	return s.Messages()
}

// Reached waits until at least n messages have arrived and reports
// whether they did within timeout. Unlike WaitFor it may be called from
// any goroutine, several at once.
func (s *Server) Reached(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(5 * time.Millisecond) // another waiter may take the wake-up
	defer tick.Stop()
	for {
		s.mu.Lock()
		got := len(s.messages)
		s.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-s.arrived:
		case <-tick.C:
		case <-deadline:
			return false
		}
	}
}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.faults.Load().drop() {
		x.dropConnection()
		return errDropped
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.s.faults.Load().policyBlocked() {
		return errPolicyBlock
	}
	x.s.mu.Lock()
	refuse := x.s.rcptError
	x.s.mu.Unlock()
	if refuse != nil {
		if err := refuse(to); err != nil {
			return err
		}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(x.to) == 0 {
		return errors.New("no recipients")
	}
	fs := x.s.faults.Load()
	x.s.transactions.Add(1)
	tempFail := fs.tempFail()
	if d := fs.f.DataDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-x.s.closed:
			t.Stop()
			return errShuttingDown
		}
	}
	if tempFail {
		return errTempFail
	}
	fs.accepted.Add(1)
	x.s.record(Message{From: x.from, To: x.to, Data: data})
	return nil
}

func (x *session) Reset() { x.from, x.to = "", nil }

func (x *session) Logout() error { return nil }

// Text returns the message's decoded text/plain part (the whole body when
// it is not multipart).
func (m Message) Text(tb testing.TB) string {
	tb.Helper()
	msg := m.Parsed(tb)
	text, err := textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	return text
}

func textPart(contentType, encoding string, body io.Reader) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return "", fmt.Errorf("no text/plain part: %w", err)
			}
			if t, err := textPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err == nil {
				return t, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("part is %s", mt)
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	return string(b), err
}
