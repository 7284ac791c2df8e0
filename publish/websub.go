package publish

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// WebSub tells a WebSub hub (W3C Recommendation) that the feeds changed:
// a POST of hub.mode=publish and hub.url=FEED per feed, each tried again
// with a doubling backoff until the hub answers 2xx or the tries run out.
// The hub then fetches the feeds and pushes them to its subscribers.
type WebSub struct {
	hub    string
	feeds  []string
	client *http.Client
	logger *slog.Logger
	// Tries is how many times a publish is sent at most; Backoff the wait
	// after the first failure (doubling after each next one).
	tries   int
	backoff time.Duration
	wg      sync.WaitGroup
}

// WebSubOptions tune the announcer; zero values take the defaults.
type WebSubOptions struct {
	Client  *http.Client  // default: a client with a 10 s timeout
	Tries   int           // default 5
	Backoff time.Duration // default 2 s (then 4, 8, 16 s)
}

// NewWebSub returns an announcer to hub of the feeds at feedURLs.
func NewWebSub(hub string, feedURLs []string, opts WebSubOptions, logger *slog.Logger) *WebSub {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Tries <= 0 {
		opts.Tries = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 2 * time.Second
	}
	return &WebSub{hub: hub, feeds: feedURLs, client: opts.Client, logger: logger, tries: opts.Tries, backoff: opts.Backoff}
}

// Announce publishes every feed to the hub in the background, until the
// hub takes it, the tries run out or ctx ends. Wait waits for it.
func (w *WebSub) Announce(ctx context.Context) {
	for _, feed := range w.feeds {
		w.wg.Go(func() { w.publish(ctx, feed) })
	}
}

// Wait waits for the announcements under way.
func (w *WebSub) Wait() { w.wg.Wait() }

func (w *WebSub) publish(ctx context.Context, feed string) {
	log := w.logger.With(slog.String("hub", w.hub), slog.String("feed", feed))
	wait := w.backoff
	for try := 1; ; try++ {
		err := w.post(ctx, feed)
		if err == nil {
			log.Info("Announced the feed to the WebSub hub", slog.Int("try", try))
			return
		}
		if try == w.tries || ctx.Err() != nil {
			log.Error("The WebSub hub did not take the announcement; giving up", slog.Int("tries", try), slog.Any("error", err))
			return
		}
		log.Warn("The WebSub hub did not take the announcement; trying again", slog.Int("try", try),
			slog.Duration("in", wait), slog.Any("error", err))
		select {
		case <-ctx.Done():
			log.Error("Stopped announcing the feed to the WebSub hub", slog.Any("error", ctx.Err()))
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (w *WebSub) post(ctx context.Context, feed string) error {
	form := url.Values{"hub.mode": {"publish"}, "hub.url": {feed}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.hub, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("publish: websub: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("publish: websub: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish: websub: the hub answered %s", resp.Status)
	}
	return nil
}
