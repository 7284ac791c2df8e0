package publish_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/publish"
)

// hub is a WebSub hub on loopback that refuses the first fail publishes
// of each feed with 503.
type hub struct {
	mu       sync.Mutex
	fail     int
	tries    map[string]int
	accepted map[string]bool
	bad      []string
}

func startHub(t *testing.T, fail int) (*hub, *httptest.Server) {
	h := &hub{fail: fail, tries: map[string]int{}, accepted: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
			r.PostFormValue("hub.mode") != "publish" || r.PostFormValue("hub.url") == "" {
			h.bad = append(h.bad, r.Method+" "+r.Header.Get("Content-Type")+" "+r.Form.Encode())
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		feed := r.PostFormValue("hub.url")
		h.tries[feed]++
		if h.tries[feed] <= h.fail {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		h.accepted[feed] = true
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return h, srv
}

// TestWebSubRetriesWithBackoff: each feed is published to the hub, tried
// again after a refusal, and logged; a hub that never takes it is given
// up after the tries.
func TestWebSubRetriesWithBackoff(t *testing.T) {
	h, srv := startHub(t, 2)
	var log bytes.Buffer
	feeds := []string{"https://news.example.com/feed.rss", "https://news.example.com/feed.atom"}
	w := publish.NewWebSub(srv.URL, feeds, publish.WebSubOptions{Tries: 3, Backoff: 5 * time.Millisecond},
		slog.New(slog.NewTextHandler(&log, nil)))
	w.Announce(context.Background())
	w.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range feeds {
		if h.tries[f] != 3 || !h.accepted[f] {
			t.Errorf("%s: %d tries, accepted %v; want 3 and accepted", f, h.tries[f], h.accepted[f])
		}
	}
	if len(h.bad) > 0 {
		t.Errorf("malformed publishes: %v", h.bad)
	}
	if got := strings.Count(log.String(), "trying again"); got != 4 {
		t.Errorf("%d retries logged, want 4:\n%s", got, log.String())
	}
	if got := strings.Count(log.String(), "Announced the feed to the WebSub hub"); got != 2 {
		t.Errorf("%d successes logged, want 2", got)
	}

	h2, srv2 := startHub(t, 100)
	log.Reset()
	w = publish.NewWebSub(srv2.URL, feeds[:1], publish.WebSubOptions{Tries: 2, Backoff: time.Millisecond},
		slog.New(slog.NewTextHandler(&log, nil)))
	w.Announce(context.Background())
	w.Wait()
	h2.mu.Lock()
	defer h2.mu.Unlock()
	if h2.tries[feeds[0]] != 2 || !strings.Contains(log.String(), "giving up") {
		t.Errorf("a hub that refuses: %d tries, log:\n%s", h2.tries[feeds[0]], log.String())
	}
}
