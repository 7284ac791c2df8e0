// Package publish holds the edition use cases shared by the CLI, the HTTP
// server and the schedule: build an edition from a source, keep the
// published site (pages and feeds) current, export it as static files.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feeds"
)

// EditionStore keeps editions. store.Store meets it.
type EditionStore interface {
	SaveEdition(ctx context.Context, e digest.Edition, now time.Time) (digest.Edition, digest.Outcome, error)
	Edition(ctx context.Context, id string) (digest.Edition, error)
	LatestEditions(ctx context.Context, n int) ([]digest.Edition, error)
	Archive(ctx context.Context) ([]digest.Summary, error)
	FeedID(ctx context.Context, candidate string) (string, error)
}

// Source yields a front page: a text file, the bundled sample, a site.
type Source interface {
	FrontPage(ctx context.Context) (digest.FrontPage, error)
	String() string
}

// Config is what the publisher needs to know of the site.
type Config struct {
	Title       string
	Description string
	// BaseURL is the site's absolute URL; links and ids derive from it.
	BaseURL *url.URL
	// Location decides which day "today" is.
	Location *time.Location
	// Observer, when set, hears of every build (metrics).
	Observer BuildObserver
	// Hub is the WebSub hub the feeds name, or "".
	Hub string
	// Schedule, when set, is the daily run (a cron.Schedule): an edition
	// is published at its day's first run, or midnight without one.
	Schedule interface{ Next(time.Time) time.Time }
}

// ErrDayOutOfRange says an edition's day is before 1970 or after
// tomorrow: such an edition would top the site and feeds for good.
var ErrDayOutOfRange = errors.New("publish: the day is out of range")

// DayError is a day refused for an edition; it wraps ErrDayOutOfRange.
type DayError struct{ Day, Reason string }

func (e *DayError) Error() string { return e.Day + " " + e.Reason }

func (e *DayError) Unwrap() error { return ErrDayOutOfRange }

// BuildObserver hears what each build did: outcome is "created",
// "updated", "unchanged" or "failed"; took is how long it took.
type BuildObserver interface {
	Build(outcome string, took time.Duration)
}

// Publisher builds editions and renders what the site publishes.
type Publisher struct {
	store   EditionStore
	content feeds.ContentRenderer
	cfg     Config
	now     func() time.Time
	logger  *slog.Logger

	mu          sync.Mutex
	feedIDCache string
	// builds lets concurrent builds of one day from one source share one
	// read of the source (one fetch of a web source).
	builds singleflight.Group
}

// New returns a Publisher. now is the clock (time.Now outside tests).
func New(store EditionStore, content feeds.ContentRenderer, cfg Config, now func() time.Time, logger *slog.Logger) *Publisher {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Description == "" {
		cfg.Description = "The daily edition of " + cfg.Title
	}
	return &Publisher{store: store, content: content, cfg: cfg, now: now, logger: logger}
}

// Today returns the ID of today's edition in the configured zone.
func (p *Publisher) Today() string { return digest.Day(p.now(), p.cfg.Location) }

func (p *Publisher) dayOf(t time.Time) string { return digest.Day(t, p.cfg.Location) }

// CheckDay checks that day (YYYY-MM-DD) may have an edition: from
// 1970-01-01 up to tomorrow in the configured zone.
func (p *Publisher) CheckDay(day string) error {
	t, err := digest.ParseDay(day)
	if err != nil {
		return &DayError{Day: day, Reason: "is not a day in YYYY-MM-DD form"}
	}
	if t.Year() < 1970 {
		return &DayError{Day: day, Reason: "is before 1970"}
	}
	now := p.now().In(p.cfg.Location)
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, p.cfg.Location).Format(digest.DayLayout)
	if day > tomorrow {
		return &DayError{Day: day, Reason: "is after tomorrow (" + tomorrow + " in " + p.cfg.Location.String() + ")"}
	}
	return nil
}

// publishedAt is when the edition of day is published: its day's first
// scheduled run (midnight without a schedule), but not later than now
// for today's.
func (p *Publisher) publishedAt(day string) time.Time {
	d, _ := digest.ParseDay(day)
	loc := p.cfg.Location
	midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	at := midnight
	if s := p.cfg.Schedule; s != nil {
		if next := s.Next(midnight.Add(-time.Nanosecond)); !next.IsZero() && digest.Day(next, loc) == day {
			at = next
		}
	}
	if now := p.now(); day == p.Today() && at.After(now) {
		at = now
	}
	return at.UTC().Truncate(time.Millisecond)
}

// Result tells what a build did.
type Result struct {
	Edition digest.Edition
	Outcome digest.Outcome
}

// maxSharedBuild bounds a build that outlives the caller that started it.
const maxSharedBuild = 3 * time.Minute

// Build reads src and stores it as the edition of day (today when day is
// ""). Building a day again with the same content changes nothing.
// Concurrent builds of one day from one source share one build: the first
// caller's runs (to its end even if that caller gives up, so the others
// get it), and each caller waits for it as long as its own ctx allows.
func (p *Publisher) Build(ctx context.Context, src Source, day string) (Result, error) {
	if day == "" {
		day = p.Today()
	}
	ch := p.builds.DoChan(day+"\x00"+src.String(), func() (any, error) {
		shared, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxSharedBuild)
		defer cancel()
		return p.observedBuild(shared, src, day)
	})
	select {
	case r := <-ch:
		res, _ := r.Val.(Result)
		return res, r.Err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("publish: build %s: %w", day, ctx.Err())
	}
}

func (p *Publisher) observedBuild(ctx context.Context, src Source, day string) (Result, error) {
	start := time.Now()
	res, err := p.build(ctx, src, day)
	if obs := p.cfg.Observer; obs != nil {
		outcome := res.Outcome.String()
		if err != nil {
			outcome = "failed"
		}
		obs.Build(outcome, time.Since(start))
	}
	return res, err
}

func (p *Publisher) build(ctx context.Context, src Source, day string) (Result, error) {
	if day == "" {
		day = p.Today()
	}
	if err := p.CheckDay(day); err != nil {
		return Result{}, err
	}
	page, err := src.FrontPage(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("publish: read %s: %w", src, err)
	}
	e, err := digest.Build(day, page)
	if err != nil {
		return Result{}, fmt.Errorf("publish: build %s from %s: %w", day, src, err)
	}
	e.FeedID = digest.TagURI(p.cfg.BaseURL.Hostname(), day)
	e.Published = p.publishedAt(day)
	saved, outcome, err := p.save(ctx, e)
	if err != nil {
		return Result{}, fmt.Errorf("publish: %w", err)
	}
	p.logger.Info("Built edition", slog.String("edition", day), slog.String("outcome", outcome.String()),
		slog.String("source", src.String()), slog.Int("headlines", len(saved.Page.Headlines)))
	return Result{Edition: saved, Outcome: outcome}, nil
}

// retryAfter is met by a store error asking to save again later (the store
// keeps edition changes at least a second apart).
type retryAfter interface{ RetryAfter() time.Duration }

// save stores e, waiting as the store asks when another change was stored
// within the same second.
func (p *Publisher) save(ctx context.Context, e digest.Edition) (digest.Edition, digest.Outcome, error) {
	for attempt := 0; ; attempt++ {
		// Milliseconds: what is stored is exactly what every later render
		// shows (feeds show milliseconds in Atom dates only).
		saved, outcome, err := p.store.SaveEdition(ctx, e, p.now().UTC().Truncate(time.Millisecond))
		var ra retryAfter
		if !errors.As(err, &ra) || attempt == 10 {
			return saved, outcome, err
		}
		select {
		case <-time.After(ra.RetryAfter()):
		case <-ctx.Done():
			return digest.Edition{}, 0, ctx.Err()
		}
	}
}

// Snapshot is everything the site shows at one moment, rendered once.
type Snapshot struct {
	// Latest holds the newest editions, newest first (at most feeds.MaxItems).
	Latest  []digest.Edition
	Archive []digest.Summary
	Feeds   *feeds.Set
}

// LatestEdition returns the newest edition, or nil when there is none.
func (s *Snapshot) LatestEdition() *digest.Edition {
	if len(s.Latest) == 0 {
		return nil
	}
	return &s.Latest[0]
}

// Held returns edition id when it is among the snapshot's newest, which
// spares a read of the store.
func (s *Snapshot) Held(id string) (digest.Edition, bool) {
	for _, e := range s.Latest {
		if e.ID == id {
			return e, true
		}
	}
	return digest.Edition{}, false
}

// Snapshot loads the newest editions and renders the feeds.
func (p *Publisher) Snapshot(ctx context.Context) (*Snapshot, error) {
	latest, err := p.store.LatestEditions(ctx, feeds.MaxItems)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	archive, err := p.store.Archive(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	meta, err := p.feedMeta(ctx)
	if err != nil {
		return nil, err
	}
	set, err := feeds.Render(meta, latest, p.content)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &Snapshot{Latest: latest, Archive: archive, Feeds: set}, nil
}

func (p *Publisher) feedMeta(ctx context.Context) (feeds.Meta, error) {
	id, err := p.feedID(ctx)
	if err != nil {
		return feeds.Meta{}, err
	}
	return feeds.Meta{Title: p.cfg.Title, Description: p.cfg.Description, BaseURL: p.cfg.BaseURL, ID: id, Hub: p.cfg.Hub}, nil
}

// feedID is the feed's permanent id: minted once in the store, then kept
// here (it never changes).
func (p *Publisher) feedID(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.feedIDCache != "" {
		return p.feedIDCache, nil
	}
	id, err := p.store.FeedID(ctx, digest.FeedTagURI(p.cfg.BaseURL.Hostname(), p.Today()))
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	p.feedIDCache = id
	return id, nil
}

// FeedURLs are the absolute URLs of the feeds.
func (p *Publisher) FeedURLs() []string {
	m := feeds.Meta{BaseURL: p.cfg.BaseURL}
	return []string{m.URL(feeds.RSSFile), m.URL(feeds.AtomFile), m.URL(feeds.JSONFile)}
}

// Edition returns the stored edition of day id.
func (p *Publisher) Edition(ctx context.Context, id string) (digest.Edition, error) {
	e, err := p.store.Edition(ctx, id)
	if err != nil {
		return digest.Edition{}, fmt.Errorf("publish: %w", err)
	}
	return e, nil
}
