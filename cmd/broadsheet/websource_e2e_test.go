package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
)

// TestBuildFromWebSource builds editions from a front page served over
// HTTP: conditional requests make an unchanged source cost 304s, a source
// that fails leaves the edition as it was, and private addresses are
// refused unless allowed.
func TestBuildFromWebSource(t *testing.T) {
	var requests, notModified atomic.Int32
	var down atomic.Bool
	web := filepath.Join("..", "..", "digest", "testdata", "web")
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		name := "article.html"
		if r.URL.Path == "/" {
			name = "frontpage.html"
		}
		rec := httptest.NewRecorder()
		http.ServeFile(rec, r, filepath.Join(web, name)) // Last-Modified, If-Modified-Since
		if rec.Code == http.StatusNotModified {
			notModified.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer site.Close()

	ctx := context.Background()
	c := &cli{env: map[string]string{
		"BROADSHEET_REDIS_URL":      redistest.URL(t),
		"BROADSHEET_DATA_DIR":       filepath.Join(t.TempDir(), "data"),
		"BROADSHEET_SOURCE":         site.URL + "/",
		"BROADSHEET_HEADLINES":      "3",
		"BROADSHEET_SOURCE_RETRIES": "1",
	}}
	// Refused: the source is on loopback.
	if code := c.run(ctx, "build", "--date", "2026-11-27"); code != 1 || !strings.Contains(c.stderr.String(), "refusing to connect to 127.0.0.1") {
		t.Fatalf("a loopback source without --source-allow-private: exit %d\n%s", code, c.stderr.String())
	}
	if requests.Load() != 0 {
		t.Fatal("the private source was reached")
	}
	c.env["BROADSHEET_SOURCE_ALLOW_PRIVATE"] = "true"
	if code := c.run(ctx, "build", "--date", "2026-11-27"); code != 0 {
		t.Fatalf("build: exit %d\n%s", code, c.stderr.String())
	}
	if out := c.stdout.String(); !strings.Contains(out, `created — "Harbour bridge reopens after a year of repairs", 3 headlines`) {
		t.Errorf("build printed %q", out)
	}
	before := requests.Load()
	if code := c.run(ctx, "build", "--date", "2026-11-27"); code != 0 || !strings.Contains(c.stdout.String(), "unchanged") {
		t.Fatalf("rebuild: exit %d, %s %s", code, c.stdout.String(), c.stderr.String())
	}
	if got := notModified.Load(); got != requests.Load()-before || got == 0 {
		t.Errorf("an unchanged source: %d of %d requests answered 304, want all", got, requests.Load()-before)
	}
	// Down: the build fails with one clear line; the edition stays.
	down.Store(true)
	code := c.run(ctx, "build", "--date", "2026-11-27", "--log-level", "error")
	if lines := strings.Split(strings.TrimSpace(c.stderr.String()), "\n"); code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "503 Service Unavailable") {
		t.Errorf("a source that is down: exit %d\n%s", code, c.stderr.String())
	}
	down.Store(false)
	if code := c.run(ctx, "parse", "--json", filepath.Join(web, "..", "frontpage.txt")); code != 0 {
		t.Fatal("parse")
	}
	c.run(ctx, "build", "--date", "2026-11-27")
	if !strings.Contains(c.stdout.String(), "unchanged") {
		t.Errorf("after the outage the edition changed: %s", c.stdout.String())
	}
}
