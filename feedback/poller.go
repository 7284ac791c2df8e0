package feedback

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Mailbox is where the Poller reads reports: an IMAP mailbox, from
// BROADSHEET_BOUNCE_MAILBOX.
type Mailbox struct {
	addr       string // host:port
	security   string // "tls" (imaps), "starttls" (imap), "none" (imap with ?tls=none)
	user, pass string
	mailbox    string // INBOX by default
	processed  string // the folder processed mail moves to; "" deletes it
}

// ParseMailbox reads imaps://user:pass@host[:993]/INBOX (implicit TLS) or
// imap://user:pass@host[:143]/INBOX (STARTTLS required; ?tls=none for a
// local server without it). ?processed=FOLDER names the folder processed
// mail moves to (default "Processed"); ?processed=- deletes it instead.
func ParseMailbox(raw string) (*Mailbox, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("feedback: the bounce mailbox is not a URL (imaps://user:pass@host/INBOX)")
	}
	m := &Mailbox{mailbox: strings.TrimPrefix(u.Path, "/"), processed: "Processed"}
	port := u.Port()
	switch u.Scheme {
	case "imaps":
		m.security = "tls"
		if port == "" {
			port = "993"
		}
	case "imap":
		m.security = "starttls"
		if port == "" {
			port = "143"
		}
	default:
		return nil, fmt.Errorf("feedback: the bounce mailbox's scheme %q is not imaps or imap", u.Scheme)
	}
	if u.Hostname() == "" || u.User == nil || u.User.Username() == "" {
		return nil, errors.New("feedback: the bounce mailbox needs a host, a user and a password (imaps://user:pass@host/INBOX)")
	}
	m.addr = net.JoinHostPort(u.Hostname(), port)
	m.user = u.User.Username()
	m.pass, _ = u.User.Password()
	if m.mailbox == "" {
		m.mailbox = "INBOX"
	}
	q := u.Query()
	for k := range q {
		if k != "tls" && k != "processed" {
			return nil, fmt.Errorf("feedback: the bounce mailbox's parameter %q is not tls or processed", k)
		}
	}
	switch q.Get("tls") {
	case "":
	case "none":
		if m.security != "starttls" {
			return nil, errors.New("feedback: ?tls=none goes with imap://, not imaps://")
		}
		m.security = "none"
	default:
		return nil, fmt.Errorf("feedback: the bounce mailbox's tls=%q is not none", q.Get("tls"))
	}
	if q.Has("processed") {
		m.processed = q.Get("processed")
		if m.processed == "-" {
			m.processed = ""
		} else if m.processed == "" || m.processed == m.mailbox {
			return nil, errors.New("feedback: ?processed= must name another folder, or - to delete")
		}
	}
	return m, nil
}

// String is the mailbox without its password.
func (m *Mailbox) String() string {
	scheme := "imaps"
	if m.security != "tls" {
		scheme = "imap"
	}
	return scheme + "://" + m.user + "@" + m.addr + "/" + m.mailbox
}

// LogValue keeps the password out of logs.
func (m *Mailbox) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Poller drains a mailbox of reports: every message is read, applied
// through the Service, then moved to the processed folder (or deleted). A
// message whose report cannot be stored stays for the next pass.
type Poller struct {
	svc *Service
	box *Mailbox
	tls *tls.Config
	log *slog.Logger
}

// NewPoller returns a Poller reading box. tlsConfig is nil for the system
// roots (tests give their own).
func NewPoller(svc *Service, box *Mailbox, tlsConfig *tls.Config, logger *slog.Logger) *Poller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Poller{svc: svc, box: box, tls: tlsConfig, log: logger}
}

// maxPerPass bounds the messages one pass reads; the next pass takes the
// rest.
const maxPerPass = 500

// Poll drains the mailbox once and returns how many messages it handled.
func (p *Poller) Poll(ctx context.Context) (int, error) {
	c, err := p.dial(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(p.box.user, p.box.pass).Wait(); err != nil {
		return 0, fmt.Errorf("feedback: log in to %s: %w", p.box, err)
	}
	if p.box.processed != "" {
		// Create it if it is missing; "already exists" is no error here.
		_ = c.Create(p.box.processed, nil).Wait()
	}
	if _, err := c.Select(p.box.mailbox, nil).Wait(); err != nil {
		return 0, fmt.Errorf("feedback: select %s: %w", p.box, err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return 0, fmt.Errorf("feedback: search %s: %w", p.box, err)
	}
	uids := found.AllUIDs()
	if len(uids) > maxPerPass {
		uids = uids[:maxPerPass]
	}
	handled := 0
	for len(uids) > 0 {
		batch := uids[:min(len(uids), 50)]
		uids = uids[len(batch):]
		done, err := p.handleBatch(ctx, c, batch)
		handled += done
		if err != nil {
			return handled, err
		}
	}
	if err := c.Logout().Wait(); err != nil {
		p.log.Debug("IMAP logout failed", slog.Any("error", err))
	}
	return handled, nil
}

func (p *Poller) dial(ctx context.Context) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: p.tls, Dialer: &net.Dialer{Timeout: 30 * time.Second}}
	if opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	var c *imapclient.Client
	var err error
	switch p.box.security {
	case "tls":
		c, err = imapclient.DialTLS(p.box.addr, opts)
	case "starttls":
		c, err = imapclient.DialStartTLS(p.box.addr, opts)
	default:
		c, err = imapclient.DialInsecure(p.box.addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("feedback: connect to %s: %w", p.box, err)
	}
	return c, ctx.Err()
}

// handleBatch fetches, applies and moves (or deletes) the messages of
// uids, and returns how many it handled.
func (p *Poller) handleBatch(ctx context.Context, c *imapclient.Client, uids []imap.UID) (int, error) {
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return 0, fmt.Errorf("feedback: fetch from %s: %w", p.box, err)
	}
	var done imap.UIDSet
	var failed error
	for _, m := range msgs {
		body := m.FindBodySection(section)
		if m.RFC822Size > MaxMessageSize || len(body) > MaxMessageSize {
			p.log.Info("Ignoring a message over 1 MB in the bounce mailbox", slog.Int64("size", m.RFC822Size))
		} else if err := p.svc.HandleMail(ctx, SourceMailbox, "", bytes.NewReader(body)); err != nil {
			failed = err // left in the mailbox for the next pass
			break
		}
		done.AddNum(m.UID)
	}
	if len(done) > 0 {
		if err := p.dispose(c, done); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, r := range done {
		n += int(r.Stop-r.Start) + 1
	}
	return n, failed
}

func (p *Poller) dispose(c *imapclient.Client, uids imap.UIDSet) error {
	if p.box.processed != "" {
		if _, err := c.Move(uids, p.box.processed).Wait(); err != nil {
			return fmt.Errorf("feedback: move processed mail to %s: %w", p.box.processed, err)
		}
		return nil
	}
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("feedback: delete processed mail: %w", err)
	}
	if err := c.UIDExpunge(uids).Close(); err != nil {
		// Without UIDPLUS: expunge every \Deleted message (only ours
		// were marked by broadsheet).
		if err := c.Expunge().Close(); err != nil {
			return fmt.Errorf("feedback: delete processed mail: %w", err)
		}
	}
	return nil
}

// Run polls every interval until ctx ends.
func (p *Poller) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := p.Poll(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.log.Warn("Unable to read the bounce mailbox; will try again", slog.Any("mailbox", p.box), slog.Any("error", err))
		case n > 0:
			p.log.Info("Read the bounce mailbox", slog.Int("messages", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
