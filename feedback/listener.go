package feedback

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// ListenerConfig configures the inbound SMTP listener.
type ListenerConfig struct {
	// Domain is the name the listener greets with (the MX host's name).
	Domain string
	// TLS, when set, offers STARTTLS.
	TLS *tls.Config
	// Timeout bounds each read and write on a connection (default 1m),
	// and the handling of one message.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Listener is the inbound SMTP server behind the bounce domain's MX: it
// takes mail only for the bounce and unsubscribe addresses (with or
// without a tag; anything else is 550 5.1.1), at most MaxMessageSize a
// message, and answers 250 only after the report is stored (a failure to
// store is 451: the sender tries again). Well-formed mail is answered 250
// whatever it reports, so nobody learns which tags are valid.
type Listener struct {
	srv *smtp.Server
	svc *Service
	cfg ListenerConfig
}

// NewListener returns a Listener handing its reports to svc.
func NewListener(svc *Service, cfg ListenerConfig) *Listener {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	l := &Listener{svc: svc, cfg: cfg}
	srv := smtp.NewServer(listenerBackend{l})
	srv.Domain = cfg.Domain
	srv.MaxMessageBytes = MaxMessageSize
	srv.MaxRecipients = 10
	srv.ReadTimeout, srv.WriteTimeout = cfg.Timeout, cfg.Timeout
	srv.TLSConfig = cfg.TLS
	// Dropped connections and scanners are the Internet's weather.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l.srv = srv
	return l
}

// Serve accepts connections on ln until Shutdown.
func (l *Listener) Serve(ln net.Listener) error {
	if err := l.srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("feedback: inbound SMTP: %w", err)
	}
	return nil
}

// Shutdown stops accepting and waits for the sessions under way, until
// ctx ends.
func (l *Listener) Shutdown(ctx context.Context) error {
	if err := l.srv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("feedback: inbound SMTP: %w", err)
	}
	return nil
}

type listenerBackend struct{ l *Listener }

func (b listenerBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &listenerSession{l: b.l}, nil
}

type listenerSession struct {
	l    *Listener
	rcpt []string
}

var errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}

func (x *listenerSession) Mail(from string, _ *smtp.MailOptions) error { return nil }

func (x *listenerSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, _, ok := x.l.svc.Addresses().Match(to); !ok {
		return errNoSuchUser
	}
	x.rcpt = append(x.rcpt, to)
	return nil
}

func (x *listenerSession) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err // too large (552), or the connection broke
	}
	ctx, cancel := context.WithTimeout(context.Background(), x.l.cfg.Timeout)
	defer cancel()
	for _, to := range x.rcpt {
		if err := x.l.svc.HandleMail(ctx, SourceInbound, to, bytes.NewReader(buf.Bytes())); err != nil {
			x.l.cfg.Logger.Error("Unable to store a report; the sender will try again", slog.Any("error", err))
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
		}
	}
	return nil
}

func (x *listenerSession) Reset()        { x.rcpt = nil }
func (x *listenerSession) Logout() error { return nil }
