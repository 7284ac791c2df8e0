package feedback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// Store keeps the events and reads subscribers. store.Store meets it.
type Store interface {
	RecordFeedback(ctx context.Context, ev digest.FeedbackEvent, ref string, softWindow time.Duration) (fresh bool, soft int, err error)
	CountEditionFeedback(ctx context.Context, edition, outcome string) error
	Subscriber(ctx context.Context, id int64) (digest.Subscriber, error)
	SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error)
	FeedbackEvents(ctx context.Context, kind, cursor string, limit int) ([]digest.FeedbackEvent, string, error)
	RecentFeedback(ctx context.Context, id int64) ([]digest.FeedbackEvent, error)
	EditionFeedback(ctx context.Context, edition string) (bounced, complained int64, err error)
}

// Applier changes a subscriber's status. subscription.Service meets it.
type Applier interface {
	ApplyFeedback(ctx context.Context, id int64, outcome string) (digest.Subscriber, bool, error)
}

// Observer hears of every fresh event (metrics).
type Observer interface {
	Feedback(kind, source string)
}

// Config configures a Service.
type Config struct {
	// Addresses are the bounce and unsubscribe addresses (nil without
	// --bounce-address: then mail names nobody, and only webhooks apply).
	Addresses *Addresses
	// Tags verifies the tags in them (the links' signer).
	Tags *subscription.Signer
	// SoftLimit soft bounces within SoftWindow mark a subscriber bounced
	// (default 3 within 15 days).
	SoftLimit  int
	SoftWindow time.Duration
	Observer   Observer
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service reads reports and applies them: the one place every source
// (listener, mailbox, webhooks) hands its reports to.
type Service struct {
	store   Store
	applier Applier
	cfg     Config
}

// NewService returns a Service.
func NewService(store Store, applier Applier, cfg Config) *Service {
	if cfg.SoftLimit <= 0 {
		cfg.SoftLimit = 3
	}
	if cfg.SoftWindow <= 0 {
		cfg.SoftWindow = 15 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, applier: applier, cfg: cfg}
}

// Addresses returns the bounce and unsubscribe addresses.
func (s *Service) Addresses() *Addresses { return s.cfg.Addresses }

// maxTagAge is how old the mail a bounce or complaint is about may be: the
// store remembers reports that long, so an older one could not be told
// from a replay.
const maxTagAge = 85 * 24 * time.Hour

// The sources of reports.
const (
	SourceInbound = "inbound" // the SMTP listener
	SourceMailbox = "mailbox" // the polled IMAP mailbox
)

// HandleMail reads one message that came to rcpt (the envelope recipient,
// or "" when not known, as in a mailbox) and applies what it reports. A
// message that is malformed, says nothing about delivery, or carries no
// valid tag changes nothing and is not an error (one log line); only a
// failure to store is, after which the message should be offered again.
func (s *Service) HandleMail(ctx context.Context, source, rcpt string, msg io.Reader) error {
	rep, err := Parse(msg)
	if err != nil {
		s.cfg.Logger.Info("Ignoring a report that does not read as mail", slog.String("source", source), slog.Any("error", err))
		return nil
	}
	addrs := rep.Addresses
	if rcpt != "" {
		addrs = append([]string{rcpt}, addrs...)
	}
	tag, purpose, found, forged := s.findTag(addrs)
	kind := rep.Kind
	if rep.Format == "plain" {
		switch {
		case found && purpose == subscription.TagUnsubscribe:
			kind = Unsubscribe
		case rep.AutoReply:
			kind = None
		}
	}
	log := s.cfg.Logger.With(slog.String("source", source), slog.String("format", rep.Format))
	switch {
	case kind == None:
		log.Info("Ignoring a message that reports no failure", slog.String("diagnostic", rep.Diagnostic))
		return nil
	case !found && forged:
		log.Warn("Ignoring a report whose tag is forged, altered or unknown", slog.String("kind", string(kind)))
		return nil
	case !found:
		log.Info("Ignoring a report that names no subscriber (no tag)", slog.String("kind", string(kind)))
		return nil
	}
	ref := tag.Edition()
	if tag.Confirmation {
		ref = "confirm:" + tag.Day.Format(digest.DayLayout)
	}
	return s.apply(ctx, log, tag.Subscriber, tag.Edition(), ref, tag.Sent, kind, rep.Diagnostic, source)
}

// findTag returns the first valid tag among addrs; forged reports that an
// address carried a tag that did not verify.
func (s *Service) findTag(addrs []string) (tag subscription.Tag, purpose subscription.TagPurpose, found, forged bool) {
	if s.cfg.Addresses == nil {
		return subscription.Tag{}, 0, false, false
	}
	for _, a := range addrs {
		p, raw, ok := s.cfg.Addresses.Match(a)
		if !ok || raw == "" {
			continue
		}
		t, err := s.cfg.Tags.VerifyTag(p, raw)
		if err != nil {
			forged = true
			continue
		}
		return t, p, true, forged
	}
	return subscription.Tag{}, 0, false, forged
}

// apply checks that the report may change subscriber id, records it and
// changes the subscriber. sent is the day the mail went out (zero when not
// known).
func (s *Service) apply(ctx context.Context, log *slog.Logger, id int64, edition, ref string, sent time.Time, kind Kind, diagnostic, source string) error {
	now := s.cfg.Now().UTC()
	log = log.With(slog.Int64("subscriber", id), slog.String("kind", string(kind)))
	if !sent.IsZero() && kind != Unsubscribe && now.Sub(sent) > maxTagAge {
		log.Info("Ignoring a report about mail older than the reports kept", slog.String("sent", sent.Format(digest.DayLayout)))
		return nil
	}
	sub, err := s.store.Subscriber(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		log.Info("Ignoring a report about a subscriber no longer kept")
		return nil
	}
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	if !sent.IsZero() && !sub.Consent.SubscribedAt.IsZero() && sent.Before(sub.Consent.SubscribedAt.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)) {
		// Mail sent before the subscriber (re)subscribed: a replay of an
		// old report must not undo a new double opt-in.
		log.Info("Ignoring a report about mail sent before the subscriber subscribed again")
		return nil
	}
	ev := digest.FeedbackEvent{Subscriber: id, Email: sub.Email, Edition: edition, Kind: string(kind),
		Diagnostic: diagnostic, Source: source, At: now}
	fresh, soft, err := s.store.RecordFeedback(ctx, ev, ref, s.cfg.SoftWindow)
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	if fresh && s.cfg.Observer != nil {
		s.cfg.Observer.Feedback(string(kind), source)
	}
	outcome := ""
	switch kind {
	case Hard:
		outcome = subscription.FeedbackBounced
	case Soft:
		if soft >= s.cfg.SoftLimit {
			outcome = subscription.FeedbackBounced
		}
	case Complaint:
		outcome = subscription.FeedbackComplained
	case Unsubscribe:
		outcome = subscription.FeedbackUnsubscribe
	}
	changed := false
	if outcome != "" {
		if _, changed, err = s.applier.ApplyFeedback(ctx, id, outcome); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
	}
	if changed && edition != "" && outcome != subscription.FeedbackUnsubscribe {
		if err := s.store.CountEditionFeedback(ctx, edition, outcome); err != nil {
			return fmt.Errorf("feedback: %w", err)
		}
	}
	log.Info("Report applied", slog.Bool("fresh", fresh), slog.Bool("changed", changed), slog.Int("soft_bounces", soft),
		slog.String("edition", edition), slog.String("diagnostic", diagnostic))
	return nil
}
