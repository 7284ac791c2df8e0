package subscription

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// Store keeps subscribers. store.Store meets it.
type Store interface {
	AddSubscriber(ctx context.Context, sub digest.Subscriber, liftSuppression bool) (digest.Subscriber, bool, error)
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
	UpdateSubscriber(ctx context.Context, id int64, change func(*digest.Subscriber) error) (digest.Subscriber, error)
	Bounce(ctx context.Context, id int64, at time.Time) (bool, error)
	ForgetSubscriber(ctx context.Context, email string) error
	CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error)
	Subscribers(ctx context.Context, status digest.SubscriberStatus, cursor int64, limit int) ([]digest.Subscriber, int64, error)
	ImportSubscribers(ctx context.Context, subs []digest.Subscriber) ([]digest.AddOutcome, error)
	FillConsent(ctx context.Context, subs []digest.Subscriber) error
	SearchSubscribers(ctx context.Context, prefix string, status digest.SubscriberStatus, limit int) ([]digest.Subscriber, bool, error)
	RecordDailyActive(ctx context.Context, day string, n int64) error
	DailyActive(ctx context.Context) (map[string]int64, error)
	EnqueueMail(ctx context.Context, job string) error
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration) (string, bool, error)
	AckMail(ctx context.Context, job string) error
	// ClaimMailbox reports whether mailbox (a digest.MailboxKey) got no
	// confirmation mail in the window before now, and if so counts this one.
	ClaimMailbox(ctx context.Context, mailbox string, now time.Time, window time.Duration) (bool, error)
	DeferMail(ctx context.Context, job string, until time.Time) error
}

// Sender sends one email. mailer.Mailer meets it.
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// ConfirmationMail is what the confirmation email says: what the reader
// signs up for, and the links — nothing from the form.
type ConfirmationMail struct {
	SiteTitle      string
	SiteURL        string
	Frequency      string // how often editions are mailed: "once a day"
	ConfirmURL     string
	PreferencesURL string
	// AlreadyActive: the address is already subscribed; the mail says so
	// instead of asking to confirm.
	AlreadyActive bool
}

// Config configures the Service.
type Config struct {
	Title   string
	BaseURL *url.URL
	// Frequency says how often editions are mailed, in the confirmation
	// mail ("once a day").
	Frequency string
	// ConsentText is the version of the consent text the form shows,
	// recorded with each subscription.
	ConsentText string
	// ConfirmTTL is how long a confirmation link works (48h).
	ConfirmTTL time.Duration
	// ResendAfter is how long before another confirmation mail may go to
	// the same address (24h).
	ResendAfter time.Duration
	// RenderConfirmation renders the confirmation mail's subject, text and
	// HTML.
	RenderConfirmation func(ConfirmationMail) (subject, text, html string, err error)
	// ReturnPath, when set, is the envelope sender of subscriber's
	// confirmation mail sent at the time given (a VERP address, so that
	// its bounce comes back naming the subscriber); nil: the From address.
	ReturnPath func(subscriber int64, sent time.Time) string
	// Spool, when set, keeps the readers' confirmations, unsubscriptions
	// and format changes that arrive while Redis is unreachable, to apply
	// them when it answers again (RunSpool).
	Spool Spool
	// Welcomer, when set, mails each newly confirmed subscriber the latest
	// edition at once.
	Welcomer Welcomer
}

// Welcomer greets a subscriber who has just confirmed (the latest edition,
// mailed at once). publish.Welcome meets it.
type Welcomer interface {
	Welcome(ctx context.Context, sub digest.Subscriber) error
}

// Service runs the subscriber use cases.
type Service struct {
	store  Store
	mail   Sender
	tokens *Signer
	cfg    Config
	now    func() time.Time
	logger *slog.Logger
}

// New returns a Service.
func New(store Store, mail Sender, tokens *Signer, cfg Config, now func() time.Time, logger *slog.Logger) *Service {
	if cfg.ConfirmTTL == 0 {
		cfg.ConfirmTTL = 48 * time.Hour
	}
	if cfg.Frequency == "" {
		cfg.Frequency = "once a day"
	}
	if cfg.ResendAfter == 0 {
		cfg.ResendAfter = 24 * time.Hour
	}
	return &Service{store: store, mail: mail, tokens: tokens, cfg: cfg, now: now, logger: logger}
}

// FieldError is a bad input field: the web answers 400 naming it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// MaxNameLength bounds a subscriber's name, in characters.
const MaxNameLength = 100

// SubscribeRequest is a subscription from the public form.
type SubscribeRequest struct {
	Email, Name   string
	IP, UserAgent string
}

// checkEmail normalises an address or says what is wrong with the field.
func checkEmail(email string) (string, error) {
	e, err := digest.NormalizeEmail(email)
	if err != nil {
		return "", &FieldError{Field: "email", Message: err.Error()}
	}
	return e, nil
}

// checkName normalises a name (trimmed, NFC) or says what is wrong with
// the field: control, format and bidi-override characters are refused, so a
// name cannot reorder or hide text in a page, a mail or an admin's list.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", &FieldError{Field: "name", Message: "is not valid UTF-8"}
	case strings.ContainsFunc(name, digest.IsHiddenRune):
		return "", &FieldError{Field: "name", Message: "contains a control, format or bidi-override character"}
	}
	name = norm.NFC.String(name)
	if utf8.RuneCountInString(name) > MaxNameLength {
		return "", &FieldError{Field: "name", Message: fmt.Sprintf("is longer than %d characters", MaxNameLength)}
	}
	return name, nil
}

// Subscribe records a subscription from the form and sends the
// confirmation mail: to a new or pending address at most once per
// ResendAfter, to an active one a note that it is subscribed (also at most
// once per ResendAfter), to an unsubscribed or bounced one the
// confirmation mail again (it is pending until confirmed), to a
// complained one nothing. The result
// does not depend on whether the address was known, so the caller's answer
// reveals nothing.
func (s *Service) Subscribe(ctx context.Context, req SubscribeRequest) error {
	email, err := checkEmail(req.Email)
	if err != nil {
		return err
	}
	name, err := checkName(req.Name)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	consent := digest.Consent{Source: "form", SubscribedAt: now, IP: req.IP,
		UserAgent: truncate(req.UserAgent, 200), Text: s.cfg.ConsentText}
	// A new subscriber is stored with its confirmation mail claimed, so
	// creating it is the claim (one round trip, not three).
	sub, created, err := s.store.AddSubscriber(ctx, digest.Subscriber{
		Email: email, Name: name, Status: digest.Pending, Format: digest.FormatHTML, Consent: consent, ConfirmSentAt: now,
	}, true)
	if err != nil {
		return fmt.Errorf("subscription: subscribe: %w", err)
	}
	switch {
	case created:
		return s.queueConfirmation(ctx, sub, now, false)
	case (sub.Status == digest.Pending || sub.Status == digest.Active) && s.sentRecently(sub, now):
		s.logger.Debug("Confirmation mail not queued: sent recently", slog.Int64("subscriber", sub.ID))
		return nil
	case sub.Status == digest.Unsubscribed || sub.Status == digest.Bounced:
		// Back again: double opt-in again, with a new consent record. A
		// bounced address too: the confirmation proves the mailbox works
		// again (a relay's mistake, a mailbox restored).
		sub, err = s.store.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error {
			if x.Status != digest.Unsubscribed && x.Status != digest.Bounced {
				return digest.ErrUnchanged
			}
			x.Status, x.ConfirmSentAt = digest.Pending, time.Time{}
			if name != "" {
				x.Name = name
			}
			x.Consent = consent
			return nil
		})
		if err != nil {
			return fmt.Errorf("subscription: subscribe: %w", err)
		}
	}
	return s.sendConfirmation(ctx, sub.ID, false)
}

// sentRecently reports whether sub got a confirmation mail less than
// ResendAfter before now.
func (s *Service) sentRecently(sub digest.Subscriber, now time.Time) bool {
	return !sub.ConfirmSentAt.IsZero() && now.Sub(sub.ConfirmSentAt) < s.cfg.ResendAfter
}

// sendConfirmation claims the right to mail subscriber id (at most once
// per ResendAfter, unless force) and queues the confirmation mail in the
// outbox, where DeliverQueued sends it: the request that asked for it does
// not wait for the mail server, and its answer does not depend on it.
func (s *Service) sendConfirmation(ctx context.Context, id int64, force bool) error {
	now := s.now().UTC()
	claimed := false
	sub, err := s.store.UpdateSubscriber(ctx, id, func(x *digest.Subscriber) error {
		claimed = false
		if x.Status != digest.Pending && x.Status != digest.Active {
			return digest.ErrUnchanged
		}
		if !force && s.sentRecently(*x, now) {
			return digest.ErrUnchanged
		}
		x.ConfirmSentAt = now
		claimed = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	if !claimed {
		s.logger.Debug("Confirmation mail not queued: sent recently or not wanted", slog.Int64("subscriber", id))
		return nil
	}
	return s.queueConfirmation(ctx, sub, now, force)
}

// queueConfirmation queues the confirmation mail of sub, whose claim is
// made — unless, without force, its mailbox got one recently.
func (s *Service) queueConfirmation(ctx context.Context, sub digest.Subscriber, now time.Time, force bool) error {
	id := sub.ID
	if !force {
		// One a day per mailbox too, whatever the spelling: victim+1@,
		// victim+2@… and Gmail's dotted variants are one inbox.
		first, err := s.store.ClaimMailbox(ctx, digest.MailboxKey(sub.Email), now, s.cfg.ResendAfter)
		if err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		if !first {
			s.logger.Debug("Confirmation mail not queued: its mailbox got one recently", slog.Int64("subscriber", id))
			return nil
		}
	}
	job := fmt.Sprintf("confirm:%d:%d", id, now.UnixNano())
	if err := s.store.EnqueueMail(ctx, job); err != nil {
		return fmt.Errorf("subscription: queue confirmation: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (s *Service) link(kind, token string) string {
	return s.cfg.BaseURL.ResolveReference(&url.URL{Path: kind + "/" + token}).String()
}

// UnsubscribeURL is the one-click unsubscribe link of subscriber id. It
// never expires.
func (s *Service) UnsubscribeURL(id int64) string {
	return s.link("unsubscribe", s.tokens.Sign(PurposeUnsubscribe, id, s.now()))
}

// PreferencesURL is the preferences link of subscriber id. It never
// expires.
func (s *Service) PreferencesURL(id int64) string {
	return s.link("preferences", s.tokens.Sign(PurposePreferences, id, s.now()))
}

// ErrUnavailable says Redis could not be reached: the subscriber a genuine
// link names is not known now (SubscriberFor returns its ID only).
var ErrUnavailable = errors.New("subscription: the subscriber store is unreachable")

// SubscriberFor returns the subscriber a token of purpose names, for the
// unsubscribe and preferences pages. Any bad token is ErrInvalidToken.
// While Redis is unreachable, a genuine token gives the subscriber's ID
// alone and ErrUnavailable, so the page can still offer its buttons (their
// actions are spooled).
func (s *Service) SubscriberFor(ctx context.Context, purpose Purpose, token string) (digest.Subscriber, error) {
	id, _, err := s.tokens.Verify(purpose, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	sub, err := s.store.Subscriber(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		return digest.Subscriber{}, ErrInvalidToken
	}
	if unreachable(err) && s.cfg.Spool != nil {
		return digest.Subscriber{ID: id}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: %w", err)
	}
	return sub, nil
}
