package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
)

// server runs `broadsheet serve` in-process until the test ends.
type server struct {
	url    string
	done   chan int
	cli    *cli
	cancel context.CancelFunc
	once   sync.Once
	code   int
}

// stop stops serve and returns its exit status (once; later calls return
// the same).
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.once.Do(func() {
		s.cancel()
		select {
		case s.code = <-s.done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s of its context ending")
			s.code = -1
		}
	})
	return s.code
}

func startServe(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	addr := env["BROADSHEET_LISTEN"]
	if addr == "" {
		addr = freeAddr(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{url: "http://" + addr + "/", done: make(chan int, 1), cli: &cli{env: env}, cancel: cancel}
	go func() {
		s.done <- s.cli.run(ctx, append([]string{"serve", "--listen", addr, "--schedule", "off"}, args...)...)
	}()
	t.Cleanup(func() {
		if code := s.stop(t); code != 0 {
			t.Errorf("serve exited %d: %s", code, s.cli.stderr.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.url + "readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case code := <-s.done:
			t.Fatalf("serve exited %d before it was ready", code)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 15s: %v", err)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func writeSource(t *testing.T, dir, name, leadTitle string) string {
	t.Helper()
	text := "First headline of the day\nSecond headline of the day\nWorld\n\n" + leadTitle +
		"\nPhoto: Agency\nThe first paragraph of the lead.\nThe second paragraph.\n"
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuildThenServe is the end-to-end path: build editions into a real
// Redis, serve them, rebuild while serving, and export the static site.
func TestBuildThenServe(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{
		"BROADSHEET_REDIS_URL":    redistest.URL(t),
		"BROADSHEET_DATA_DIR":     filepath.Join(dir, "data"),
		"BROADSHEET_TITLE":        "The Test Times",
		"BROADSHEET_REDIS_PREFIX": "e2e:",
	}
	builder := &cli{env: env}
	v1 := writeSource(t, dir, "v1.txt", "Version One of the Lead")
	if code := builder.run(ctx, "build", "--source", v1, "--date", "2026-11-26"); code != 0 {
		t.Fatalf("build: exit %d: %s", code, builder.stderr.String())
	}
	if got := builder.stdout.String(); !strings.Contains(got, "2026-11-26: created") {
		t.Errorf("build printed %q", got)
	}

	addr := freeAddr(t)
	env["BROADSHEET_BASE_URL"] = "http://" + addr + "/"
	srv := startServeAt(t, env, addr)

	// The home page is the latest edition, with feed autodiscovery.
	resp, body := get(t, srv.url)
	if resp.StatusCode != 200 || !strings.Contains(body, "Version One of the Lead") {
		t.Fatalf("GET /: %d\n%s", resp.StatusCode, body)
	}
	for _, ct := range []string{"application/rss+xml", "application/atom+xml", "application/feed+json"} {
		if !strings.Contains(body, `<link rel="alternate" type="`+ct+`"`) {
			t.Errorf("GET / lacks autodiscovery for %s", ct)
		}
	}
	if resp, _ := get(t, srv.url+"editions/2026-11-26"); resp.StatusCode != 200 {
		t.Errorf("edition page: %d", resp.StatusCode)
	}
	if resp, body := get(t, srv.url+"editions/2020-01-01"); resp.StatusCode != 404 || !strings.Contains(body, "no edition for 2020-01-01") {
		t.Errorf("unknown edition: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, srv.url+"no/such/page"); resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}

	rss1 := parseFeed(t, srv.url+"feed.rss")
	if len(rss1.Items) != 1 || rss1.Items[0].Title != "Version One of the Lead" {
		t.Fatalf("feed items: %+v", rss1.Items)
	}
	guid := rss1.Items[0].GUID
	resp, _ = get(t, srv.url+"feed.rss")
	etag := resp.Header.Get("Etag")

	// Rebuilding the same content changes nothing: same ETag, a 304.
	if code := builder.run(ctx, "build", "--source", v1, "--date", "2026-11-26"); code != 0 || !strings.Contains(builder.stdout.String(), "unchanged") {
		t.Fatalf("rebuild: exit %d, %s %s", code, builder.stdout.String(), builder.stderr.String())
	}
	time.Sleep(200 * time.Millisecond)
	if resp, body := get(t, srv.url+"feed.rss", "If-None-Match", etag); resp.StatusCode != 304 || body != "" {
		t.Errorf("conditional GET after an unchanged rebuild: %d", resp.StatusCode)
	}

	// New content for the day: the running server shows it within 1s,
	// with the same guid.
	v2 := writeSource(t, dir, "v2.txt", "Version Two of the Lead")
	if code := builder.run(ctx, "build", "--source", v2, "--date", "2026-11-26"); code != 0 || !strings.Contains(builder.stdout.String(), "updated") {
		t.Fatalf("build v2: exit %d, %s %s", code, builder.stdout.String(), builder.stderr.String())
	}
	start := time.Now()
	for {
		_, body := get(t, srv.url)
		if strings.Contains(body, "Version Two of the Lead") {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatal("the running server did not show the changed edition within 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rss2 := parseFeed(t, srv.url+"feed.rss")
	if len(rss2.Items) != 1 || rss2.Items[0].GUID != guid || rss2.Items[0].Title != "Version Two of the Lead" {
		t.Errorf("after the update: %d items, guid %q (want %q), title %q", len(rss2.Items), rss2.Items[0].GUID, guid, rss2.Items[0].Title)
	}
	if !rss2.Items[0].PublishedParsed.Equal(*rss1.Items[0].PublishedParsed) {
		t.Errorf("the published date moved: %v, was %v", rss2.Items[0].PublishedParsed, rss1.Items[0].PublishedParsed)
	}
	atom := parseFeed(t, srv.url+"feed.atom")
	// (That "updated" moves on is checked in store's tests, with a clock.)
	if len(atom.Items) != 1 || atom.Items[0].GUID != guid || atom.Items[0].UpdatedParsed.Before(*atom.Items[0].PublishedParsed) {
		t.Errorf("atom after the update: want the same id %q, updated not before published: %+v", guid, atom.Items)
	}
	if resp, _ := get(t, srv.url+"feed.rss", "If-None-Match", etag); resp.StatusCode != 200 {
		t.Errorf("the old ETag still matches after new content: %d", resp.StatusCode)
	}

	// A second day: newest first in every feed.
	if code := builder.run(ctx, "build", "--source", v1, "--date", "2026-11-27", "--out", filepath.Join(dir, "site")); code != 0 {
		t.Fatalf("build day two: exit %d: %s", code, builder.stderr.String())
	}
	for _, f := range []string{"feed.rss", "feed.atom", "feed.json"} {
		deadline := time.Now().Add(time.Second)
		for {
			feed := parseFeed(t, srv.url+f)
			if len(feed.Items) == 2 {
				if feed.Items[0].Title != "Version One of the Lead" || feed.Items[1].GUID != guid {
					t.Errorf("%s: items not newest first: %q, %q", f, feed.Items[0].Title, feed.Items[1].GUID)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d items, want 2", f, len(feed.Items))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The static export holds the whole site, feeds byte-identical to
	// what the server serves.
	for _, f := range []string{"feed.rss", "feed.atom", "feed.json", "index.html", "archive.html", "editions/2026-11-26.html", "editions/2026-11-27.html", "favicon.svg"} {
		data, err := os.ReadFile(filepath.Join(dir, "site", f))
		if err != nil {
			t.Errorf("static site: %v", err)
			continue
		}
		if strings.HasPrefix(f, "feed.") {
			_, served := get(t, srv.url+f)
			if served != string(data) {
				t.Errorf("static %s differs from the served feed", f)
			}
		}
	}
	index, _ := os.ReadFile(filepath.Join(dir, "site", "editions", "2026-11-26.html"))
	if !strings.Contains(string(index), `href="../archive.html"`) || !strings.Contains(string(index), "Version Two of the Lead") ||
		!strings.Contains(string(index), `href="../favicon.svg"`) || !strings.Contains(string(index), `href="2026-11-27.html" rel="next"`) {
		t.Errorf("static edition page: links or content wrong")
	}

	// /healthz (readyz is checked where serve starts and in the Redis tests).
	if resp, _ := get(t, srv.url+"healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func startServeAt(t *testing.T, env map[string]string, addr string) *server {
	t.Helper()
	env["BROADSHEET_LISTEN"] = addr
	return startServe(t, env)
}

func parseFeed(t *testing.T, url string) *gofeed.Feed {
	t.Helper()
	resp, body := get(t, url)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	feed, err := gofeed.NewParser().ParseString(body)
	if err != nil {
		t.Fatalf("%s does not parse: %v", url, err)
	}
	return feed
}

// TestServeOnDefaults runs serve as a newcomer would: no Redis URL, no
// source. It starts a private redis-server under the data dir, builds the
// bundled sample at once, lets a `build` next to it share that Redis, and
// stops the child when it stops.
func TestServeOnDefaults(t *testing.T) {
	redistest.Start(t) // skips (or fails in CI) without redis-server
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"BROADSHEET_DATA_DIR": dataDir}
	// Registered first, so it runs after serve has stopped: the child
	// redis-server must have stopped with it.
	t.Cleanup(func() {
		if c, err := net.Dial("unix", filepath.Join(dataDir, "redis.sock")); err == nil {
			c.Close()
			t.Error("the private redis-server still answers after serve stopped")
		}
	})
	srv := startServe(t, env)
	_, body := get(t, srv.url)
	if !strings.Contains(body, "Unholy Alliance Seeks Closer Cooperation") {
		t.Fatalf("the sample edition is not on the home page:\n%s", body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "redis.sock")); err != nil {
		t.Fatalf("no private redis socket: %v", err)
	}
	b := &cli{env: env}
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	if code := b.run(context.Background(), "build", "--date", day); code != 0 {
		t.Fatalf("build beside serve: exit %d: %s", code, b.stderr.String())
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, body := get(t, srv.url+"archive")
		if strings.Contains(body, day) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edition built beside serve is not in its archive within 1s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(srv.cli.stderr.String(), "Started a private redis-server") {
		t.Errorf("serve's log does not say it started Redis:\n%s", srv.cli.stderr.String())
	}
	if strings.Contains(b.stderr.String(), "Started a private redis-server") {
		t.Errorf("build started a second Redis instead of sharing serve's")
	}
}

// TestInMemoryFallback: without redis-server on PATH and no URL, commands
// still work, on an in-process Redis, and say loudly that nothing persists.
func TestInMemoryFallback(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	c := cli{env: map[string]string{"BROADSHEET_DATA_DIR": t.TempDir()}}
	if code := c.run(context.Background(), "build", "--out", t.TempDir()); code != 0 {
		t.Fatalf("build: exit %d: %s", code, c.stderr.String())
	}
	if !strings.Contains(c.stderr.String(), "NOTHING WILL PERSIST") {
		t.Errorf("no warning that nothing persists:\n%s", c.stderr.String())
	}
	if !strings.Contains(c.stdout.String(), ": created") {
		t.Errorf("build printed %q", c.stdout.String())
	}
}

func TestServeFailsOnTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := cli{env: map[string]string{"BROADSHEET_DATA_DIR": t.TempDir()}}
	code := c.run(context.Background(), "serve", "--listen", l.Addr().String())
	want := fmt.Sprintf("broadsheet: cannot listen on %s: the address is already in use (by another broadsheet serve?); choose another address with --listen or $BROADSHEET_LISTEN\n", l.Addr())
	if code != 1 || c.stderr.String() != want {
		t.Errorf("exit %d, stderr %q", code, c.stderr.String())
	}
}

// TestPrivateRedisShared: two serves on one data dir share the private
// Redis; the one that started it stops, the other goes on; the last one
// out stops Redis.
func TestPrivateRedisShared(t *testing.T) {
	redistest.Start(t) // skips (or fails in CI) without redis-server
	dataDir := filepath.Join(t.TempDir(), "data")
	sock := filepath.Join(dataDir, "redis.sock")
	first := startServe(t, map[string]string{"BROADSHEET_DATA_DIR": dataDir})
	second := startServe(t, map[string]string{"BROADSHEET_DATA_DIR": dataDir})
	if code := first.stop(t); code != 0 {
		t.Fatalf("first serve: exit %d", code)
	}
	if resp, _ := get(t, second.url+"readyz"); resp.StatusCode != 200 {
		t.Fatalf("the second serve lost Redis when the first stopped: readyz %d", resp.StatusCode)
	}
	b := &cli{env: map[string]string{"BROADSHEET_DATA_DIR": dataDir}}
	if code := b.run(context.Background(), "build", "--date", "2026-01-01"); code != 0 {
		t.Fatalf("build beside the second serve: %d %s", code, b.stderr.String())
	}
	if resp, _ := get(t, second.url+"readyz"); resp.StatusCode != 200 {
		t.Fatal("a build closing its connection stopped the shared Redis")
	}
	if code := second.stop(t); code != 0 {
		t.Fatalf("second serve: exit %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the private Redis still answers after the last serve stopped")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeWarnsOfAMissingSource: serve on a store with an edition and a
// --source file that is not there starts (serving what it has) and says
// so at once.
func TestServeWarnsOfAMissingSource(t *testing.T) {
	env := map[string]string{"BROADSHEET_REDIS_URL": "redis://" + redistest.Start(t), "BROADSHEET_DATA_DIR": t.TempDir()}
	if c := (&cli{env: env}); c.run(context.Background(), "build") != 0 {
		t.Fatal(c.stderr.String())
	}
	missing := filepath.Join(t.TempDir(), "missing.txt")
	s := startServe(t, env, "--source", missing)
	if log := s.cli.stderr.String(); !strings.Contains(log, "The source cannot be read") || !strings.Contains(log, "missing.txt") {
		t.Errorf("no warning of the missing source:\n%s", log)
	}
}
