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
	EnqueueMail(ctx context.Context, job string) error
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration) (string, bool, error)
	AckMail(ctx context.Context, job string) error
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
		return "", &FieldError{Field: "email", Message: strings.TrimPrefix(err.Error(), digest.ErrBadEmail.Error()+": ")}
	}
	return e, nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", &FieldError{Field: "name", Message: "is not valid UTF-8"}
	case utf8.RuneCountInString(name) > MaxNameLength:
		return "", &FieldError{Field: "name", Message: fmt.Sprintf("is longer than %d characters", MaxNameLength)}
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", &FieldError{Field: "name", Message: "contains a control character"}
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
	consent := digest.Consent{Source: "form", SubscribedAt: s.now().UTC(), IP: req.IP,
		UserAgent: truncate(req.UserAgent, 200), Text: s.cfg.ConsentText}
	sub, created, err := s.store.AddSubscriber(ctx, digest.Subscriber{
		Email: email, Name: name, Status: digest.Pending, Format: digest.FormatHTML, Consent: consent,
	}, true)
	if err != nil {
		return fmt.Errorf("subscription: subscribe: %w", err)
	}
	if !created && (sub.Status == digest.Unsubscribed || sub.Status == digest.Bounced) {
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

// sendConfirmation claims the right to mail subscriber id (at most once
// per ResendAfter, unless force) and queues the confirmation mail in the
// outbox, where DeliverQueued sends it: the request that asked for it does
// not wait for the mail server, and its answer does not depend on it.
func (s *Service) sendConfirmation(ctx context.Context, id int64, force bool) error {
	now := s.now().UTC()
	claimed := false
	_, err := s.store.UpdateSubscriber(ctx, id, func(x *digest.Subscriber) error {
		claimed = false
		if x.Status != digest.Pending && x.Status != digest.Active {
			return digest.ErrUnchanged
		}
		if !force && !x.ConfirmSentAt.IsZero() && now.Sub(x.ConfirmSentAt) < s.cfg.ResendAfter {
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

// SubscriberFor returns the subscriber a token of purpose names, for the
// unsubscribe and preferences pages. Any bad token is ErrInvalidToken.
func (s *Service) SubscriberFor(ctx context.Context, purpose Purpose, token string) (digest.Subscriber, error) {
	id, _, err := s.tokens.Verify(purpose, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	sub, err := s.store.Subscriber(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		return digest.Subscriber{}, ErrInvalidToken
	}
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: %w", err)
	}
	return sub, nil
}

// Unsubscribe unsubscribes the subscriber of an unsubscribe or preferences
// token; how is "one-click", "link" or "preferences". Unsubscribing twice is
// not an error.
func (s *Service) Unsubscribe(ctx context.Context, purpose Purpose, token, how string) (digest.Subscriber, error) {
	sub, err := s.SubscriberFor(ctx, purpose, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	return s.leave(ctx, sub.ID, how)
}

func (s *Service) leave(ctx context.Context, id int64, how string) (digest.Subscriber, error) {
	now := s.now().UTC()
	sub, err := s.store.UpdateSubscriber(ctx, id, func(x *digest.Subscriber) error {
		if x.Status != digest.Active && x.Status != digest.Pending {
			return digest.ErrUnchanged
		}
		x.Status = digest.Unsubscribed
		x.Consent.LeftAt, x.Consent.LeftHow = now, how
		return nil
	})
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: unsubscribe: %w", err)
	}
	s.logger.Info("Subscriber left", slog.Int64("subscriber", id), slog.String("how", how))
	return sub, nil
}

// SetFormat changes the mail format of the subscriber of a preferences
// token.
func (s *Service) SetFormat(ctx context.Context, token string, format digest.MailFormat) (digest.Subscriber, error) {
	if !format.Valid() {
		return digest.Subscriber{}, &FieldError{Field: "format", Message: `must be "html" or "text"`}
	}
	sub, err := s.SubscriberFor(ctx, PurposePreferences, token)
	if err != nil {
		return digest.Subscriber{}, err
	}
	sub, err = s.store.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error {
		if x.Format == format {
			return digest.ErrUnchanged
		}
		x.Format = format
		return nil
	})
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("subscription: set format: %w", err)
	}
	return sub, nil
}
