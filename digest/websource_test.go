package digest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// site serves testdata/web files at their names, counting requests.
type site struct {
	*httptest.Server
	hits sync.Map // path → *atomic.Int32
}

func newSite(t testing.TB, extra map[string]http.HandlerFunc) *site {
	t.Helper()
	s := &site{}
	mux := http.NewServeMux()
	for path, h := range extra {
		mux.HandleFunc(path, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/front":
			name = "frontpage.html"
		case strings.HasPrefix(r.URL.Path, "/2026/") || strings.HasPrefix(r.URL.Path, "/articles/"):
			name = "article.html"
		}
		data, err := os.ReadFile("testdata/web/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		data = []byte(strings.ReplaceAll(string(data), "LINK_BASE", "http://"+r.Host+"/"))
		switch {
		case strings.HasSuffix(name, ".rss"):
			w.Header().Set("Content-Type", "application/rss+xml")
		case strings.HasSuffix(name, ".atom"):
			w.Header().Set("Content-Type", "text/xml") // vague on purpose: the body decides
		case strings.HasSuffix(name, ".json"):
			w.Header().Set("Content-Type", "application/feed+json")
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
		}
		w.Write(data)
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := s.hits.LoadOrStore(r.URL.Path, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) hitsOf(path string) int {
	n, ok := s.hits.Load(path)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int32).Load())
}

func testFetcher(opts FetcherOptions) *Fetcher {
	opts.AllowPrivate = true
	opts.UserAgent = "broadsheet/test (+http://news.example.com/)"
	opts.backoff = func(int) time.Duration { return time.Millisecond }
	return NewFetcher(opts)
}

func TestHTMLFrontPage(t *testing.T) {
	s := newSite(t, nil)
	page, err := WebSource{URL: s.URL + "/front", Fetcher: testFetcher(FetcherOptions{})}.FrontPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Headline{
		{Title: "Harbour bridge reopens after a year of repairs", URL: s.URL + "/2026/11/27/harbour-bridge-reopens"},
		{Title: "Council approves the new tram line after a decade of debate", URL: s.URL + "/articles/council-tram.html?utm_source=front"},
		{Title: "Storm closes the coast road for the weekend…", Truncated: true, URL: "https://other.example.org/wire/storm"},
		{Title: "Markets rally as rates hold steady", URL: "http://cdn.example.net/markets/today"},
		{Title: "Library extends its opening hours & adds Sunday mornings", URL: s.URL + "/library-hours"},
	}
	if len(page.Headlines) != len(want) {
		t.Fatalf("%d headlines, want %d: %+v", len(page.Headlines), len(want), page.Headlines)
	}
	for i := range want {
		if page.Headlines[i] != want[i] {
			t.Errorf("headline %d:\n got %+v\nwant %+v", i, page.Headlines[i], want[i])
		}
	}
	l := page.Lead
	if l == nil {
		t.Fatal("no lead")
	}
	if l.Title != "Harbour bridge reopens after a year of repairs" || l.Section != "City" || !strings.Contains(l.Credit, "Jane Doe") {
		t.Errorf("lead: title %q, section %q, credit %q", l.Title, l.Section, l.Credit)
	}
	var headings, paragraphs []string
	for _, b := range l.Blocks {
		if b.Type == Heading {
			headings = append(headings, b.Text)
		} else {
			paragraphs = append(paragraphs, b.Text)
		}
		for _, bad := range []string{"alert", "<", "loadAds", "Advertisement", "onerror"} {
			if strings.Contains(b.Text, bad) {
				t.Errorf("block %q holds %q", b.Text, bad)
			}
		}
	}
	if strings.Join(headings, "|") != "What changed|What comes next" {
		t.Errorf("headings: %q", headings)
	}
	if len(paragraphs) != 6 || !strings.HasPrefix(paragraphs[0], "The harbour bridge reopened") {
		t.Errorf("paragraphs: %q", paragraphs)
	}
}

func TestHTMLOptions(t *testing.T) {
	s := newSite(t, nil)
	f := testFetcher(FetcherOptions{})
	src := WebSource{URL: s.URL + "/front", Fetcher: f,
		HTML: HTMLOptions{HeadlineSelector: "h3 a", LeadSelector: "h3 a[href^='articles/']", MaxHeadlines: 2}}
	page, err := src.FrontPage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Headlines) != 2 || page.Headlines[0].Title != "Council approves the new tram line after a decade of debate" {
		t.Errorf("headlines: %+v", page.Headlines)
	}
	if s.hitsOf("/articles/council-tram.html") != 1 {
		t.Errorf("the lead selector's article was not fetched")
	}
	for _, bad := range []HTMLOptions{{HeadlineSelector: "h2 >> a"}, {HeadlineSelector: "table.none a"}, {LeadSelector: "#nowhere a"}} {
		_, err := WebSource{URL: s.URL + "/front", Fetcher: f, HTML: bad}.FrontPage(context.Background())
		if !IsSourceError(err) {
			t.Errorf("options %+v: %v, want a SourceError", bad, err)
		}
	}
}

func TestFeedSources(t *testing.T) {
	s := newSite(t, nil)
	f := testFetcher(FetcherOptions{})
	ctx := context.Background()

	rss, err := WebSource{URL: s.URL + "/feed.rss", Fetcher: f}.FrontPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Headlines) != 3 || rss.Headlines[0].Title != "Harbour bridge reopens after a year of repairs" ||
		rss.Headlines[0].URL != "https://news.example.org/2026/11/27/harbour-bridge-reopens" || rss.Headlines[2].Title != "Storm closes the coast road" {
		t.Errorf("rss headlines (newest first, absolute, no tags): %+v", rss.Headlines)
	}
	if l := rss.Lead; l == nil || l.Credit != "Jane Doe" || l.Section != "City" || len(l.Blocks) != 3 ||
		l.Blocks[1] != (Block{Type: Heading, Text: "What changed"}) || l.Blocks[2].Text != "Engineers replaced all the cables. Details" {
		t.Errorf("rss lead from content:encoded: %+v", rss.Lead)
	}
	if got := rss.Headlines[1].Title; got != "Council approves the new tram line & its Q&A" {
		t.Errorf("a title with ampersands came out %q (escaped twice?)", got)
	}
	if s.hitsOf("/2026/11/27/harbour-bridge-reopens") != 0 {
		t.Error("the lead was fetched although the feed carries its content")
	}

	atom, err := WebSource{URL: s.URL + "/feed.atom", Fetcher: f}.FrontPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(atom.Headlines) != 2 || atom.Headlines[0].URL != s.URL+"/article.html" || atom.Lead == nil || atom.Lead.Section != "City" {
		t.Errorf("atom (lead fetched from the newest entry's page): %+v lead %+v", atom.Headlines, atom.Lead)
	}

	jf, err := WebSource{URL: s.URL + "/feed.json", Fetcher: f}.FrontPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if jf.Lead == nil || jf.Lead.Credit != "Jane Doe" || len(jf.Lead.Blocks) != 2 || jf.Lead.Blocks[1].Text != "Engineers replaced the cables." {
		t.Errorf("json feed lead: %+v", jf.Lead)
	}
}

// memCache is an in-memory HTTPCache; the Redis one is tested in store.
type memCache struct {
	mu sync.Mutex
	m  map[string]CachedResponse
}

func (c *memCache) CachedResponse(_ context.Context, u string) (CachedResponse, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[u]
	return r, ok, nil
}

func (c *memCache) CacheResponse(_ context.Context, u string, r CachedResponse) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[u] = r
	return nil
}

func TestConditionalFetch(t *testing.T) {
	var full atomic.Int32
	s := newSite(t, map[string]http.HandlerFunc{"/cond": func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		full.Add(1)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("body one"))
	}})
	f := testFetcher(FetcherOptions{Cache: &memCache{m: map[string]CachedResponse{}}})
	for i := range 3 {
		page, err := f.Get(context.Background(), s.URL+"/cond")
		if err != nil {
			t.Fatal(err)
		}
		if string(page.Body) != "body one" || page.NotModified != (i > 0) {
			t.Errorf("fetch %d: %q not-modified=%v", i, page.Body, page.NotModified)
		}
	}
	if full.Load() != 1 {
		t.Errorf("the body was sent %d times, want once then 304s", full.Load())
	}
}

func TestFetchFailures(t *testing.T) {
	var flaky atomic.Int32
	big := strings.Repeat("x", MaxSourceSize+1)
	s := newSite(t, map[string]http.HandlerFunc{
		"/500":  func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) },
		"/404":  func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
		"/big":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) },
		"/loop": func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) },
		"/flaky": func(w http.ResponseWriter, r *http.Request) {
			if flaky.Add(1) < 3 {
				w.Header().Set("Retry-After", "0")
				http.Error(w, "busy", http.StatusTooManyRequests)
				return
			}
			w.Write([]byte("finally"))
		},
		"/empty": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body><p>No links.</p></body></html>"))
		},
	})
	f := testFetcher(FetcherOptions{Retries: 2})
	ctx := context.Background()
	page, err := f.Get(ctx, s.URL+"/flaky")
	if err != nil || string(page.Body) != "finally" {
		t.Errorf("429 twice then 200: %q %v", page.Body, err)
	}
	tests := map[string]string{
		"/500":  "500 Internal Server Error",
		"/404":  "404 Not Found",
		"/big":  "larger than 5 MiB",
		"/loop": "redirects",
	}
	for path, want := range tests {
		_, err := f.Get(ctx, s.URL+path)
		var fe *FetchError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("GET %s: %v, want a FetchError saying %q", path, err, want)
		}
	}
	if n := s.hitsOf("/500"); n != 3 {
		t.Errorf("a 500 was tried %d times, want 1 + 2 retries", n)
	}
	if n := s.hitsOf("/404"); n != 1 {
		t.Errorf("a 404 was tried %d times, want once", n)
	}
	if _, err := (WebSource{URL: s.URL + "/empty", Fetcher: f}).FrontPage(ctx); !IsSourceError(err) {
		t.Errorf("a page without headlines: %v", err)
	}
	if _, err := f.Get(ctx, "ftp://example.com/x"); err == nil {
		t.Error("an ftp URL was fetched")
	}
}

// TestPrivateAddressesRefused: without AllowPrivate the guard refuses
// loopback when dialling — directly, and after a redirect from an allowed
// server.
func TestPrivateAddressesRefused(t *testing.T) {
	target := newSite(t, nil)
	redirector := newSite(t, map[string]http.HandlerFunc{"/go": func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/front", http.StatusFound)
	}})
	ctx := context.Background()
	strict := NewFetcher(FetcherOptions{UserAgent: "test"})
	if _, err := strict.Get(ctx, target.URL+"/front"); err == nil || !strings.Contains(err.Error(), "refusing to connect to 127.0.0.1") {
		t.Errorf("direct loopback: %v", err)
	}
	// Allow only the redirector's port, as if it were a public host.
	rport := netip.MustParseAddrPort(strings.TrimPrefix(redirector.URL, "http://")).Port()
	f := NewFetcher(FetcherOptions{UserAgent: "test", allowAddr: func(ap netip.AddrPort) bool { return ap.Port() == rport }})
	_, err := f.Get(ctx, redirector.URL+"/go")
	if err == nil || !strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("redirect to loopback: %v", err)
	}
	if target.hitsOf("/front") != 0 {
		t.Error("the private target was reached")
	}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::", "::ffff:127.0.0.1", "255.255.255.255"} {
		if IsPublicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as public", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "2606:4700::1111", "8.8.8.8"} {
		if !IsPublicAddr(netip.MustParseAddr(a)) {
			t.Errorf("%s counted as private", a)
		}
	}
}

func TestUserAgentSent(t *testing.T) {
	var ua atomic.Value
	s := newSite(t, map[string]http.HandlerFunc{"/ua": func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
	}})
	if _, err := testFetcher(FetcherOptions{}).Get(context.Background(), s.URL+"/ua"); err != nil {
		t.Fatal(err)
	}
	if got := ua.Load(); got != "broadsheet/test (+http://news.example.com/)" {
		t.Errorf("User-Agent: %v", got)
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	s := newSite(t, map[string]http.HandlerFunc{"/slow": func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}})
	defer close(release)
	f := testFetcher(FetcherOptions{Timeout: 100 * time.Millisecond, Retries: 1})
	start := time.Now()
	_, err := f.Get(context.Background(), s.URL+"/slow")
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("a server that never answers: %v", err)
	}
	if n := s.hitsOf("/slow"); n != 2 {
		t.Errorf("a timeout was tried %d times, want 1 + 1 retry", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestIsFeedSniffsTheStart: with a vague content type, only the first 512
// bytes of the body (after a BOM and white space) decide: a page whose
// start reads as HTML is not a feed for a "<rss" further down.
func TestIsFeedSniffsTheStart(t *testing.T) {
	start := "<?xml version=\"1.0\"?>\n<!-- " + strings.Repeat("x", 600) + " -->"
	for _, c := range []struct {
		name, body string
		want       bool
	}{
		{"xml start", "\uFEFF \n" + start + "<rss version=\"2.0\"></rss>", true},
		{"json", "  {\"version\": \"https://jsonfeed.org/version/1.1\"}", true},
		{"html after 512 bytes of xml", start + "<html><body>a page</body></html>", true},
		{"html start, <rss later", "<!doctype html><html><!-- " + strings.Repeat("x", 600) + " --><rss>", false},
		{"short html", "<html><body>a page</body></html>", false},
	} {
		for _, ct := range []string{"text/xml", "application/octet-stream", ""} {
			if got := isFeed(ct, []byte(c.body)); got != c.want {
				t.Errorf("%s as %q: isFeed = %v, want %v", c.name, ct, got, c.want)
			}
		}
	}
}
