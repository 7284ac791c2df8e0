package publish

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Site holds the current Snapshot for the web server and replaces it when
// the editions change. Reads never wait on Redis for the newest editions.
type Site struct {
	pub       *Publisher
	announcer Announcer
	logger    *slog.Logger
	current   atomic.Pointer[Snapshot]
	mu        sync.Mutex // serialises refreshes
}

// Announcer hears that the feeds changed. WebSub meets it.
type Announcer interface {
	Announce(ctx context.Context)
}

// NewSite returns a Site with an empty snapshot; call Refresh to load it.
// announcer, when not nil, hears of every change of the feeds after the
// first load (a new or changed edition).
func NewSite(pub *Publisher, announcer Announcer, logger *slog.Logger) *Site {
	s := &Site{pub: pub, announcer: announcer, logger: logger}
	s.current.Store(&Snapshot{})
	return s
}

// Current returns the snapshot now published. It never returns nil, but
// its Feeds are nil until the first successful Refresh.
func (s *Site) Current() *Snapshot { return s.current.Load() }

// Refresh loads and renders a new snapshot and publishes it. On error the
// previous snapshot stays.
func (s *Site) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.pub.Snapshot(ctx)
	if err != nil {
		return err
	}
	old := s.current.Swap(snap)
	if s.announcer != nil && old.Feeds != nil && old.Feeds.Atom.ETag() != snap.Feeds.Atom.ETag() {
		s.announcer.Announce(ctx)
	}
	return nil
}

// Edition returns edition id from the snapshot when it is there, otherwise
// from the store.
func (s *Site) Edition(ctx context.Context, id string) (digest.Edition, error) {
	if e, ok := s.Current().Held(id); ok {
		return e, nil
	}
	return s.pub.Edition(ctx, id)
}

// Changed refreshes after the store reported a change; errors are logged,
// and the next change or poll tries again.
func (s *Site) Changed(ctx context.Context) {
	if err := s.Refresh(ctx); err != nil {
		s.logger.Error("Unable to refresh the published site", slog.Any("error", err))
		return
	}
	s.logger.Debug("Published site refreshed")
}
