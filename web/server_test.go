package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feeds"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/templates"
	"github.com/broadsheet-news/broadsheet/web"
)

// site is a Site over a fixed snapshot; lookups of older editions fail
// with err when it is set.
type site struct {
	snap *publish.Snapshot
	err  error
}

func (s *site) Current() *publish.Snapshot { return s.snap }

func (s *site) Edition(ctx context.Context, id string) (digest.Edition, error) {
	if s.err != nil {
		return digest.Edition{}, s.err
	}
	for _, e := range s.snap.Latest {
		if e.ID == id {
			return e, nil
		}
	}
	return digest.Edition{}, digest.ErrNotFound
}

func newServer(t *testing.T, base string, ready error) (*httptest.Server, *site) {
	t.Helper()
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	e, err := digest.Build("2026-11-27", page)
	if err != nil {
		t.Fatal(err)
	}
	e.FeedID = "tag:news.example.com,2026-11-27:edition"
	e.Published = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	e.Updated = e.Published
	u, _ := url.Parse(base)
	set, err := feeds.Render(feeds.Meta{Title: "Test", BaseURL: u, ID: "tag:news.example.com,2026-11-27:feed"}, []digest.Edition{e}, pages)
	if err != nil {
		t.Fatal(err)
	}
	st := &site{snap: &publish.Snapshot{
		Latest:  []digest.Edition{e},
		Archive: []digest.Summary{{ID: e.ID, Title: e.Title(), Updated: e.Updated}},
		Feeds:   set,
	}}
	srv := web.New(web.Deps{Site: st, Pages: pages, Ready: func(context.Context) error { return ready },
		Logger: slog.New(slog.DiscardHandler)}, web.Config{Title: "The <Test> Times", BaseURL: u})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, st
}

func do(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestRoutes(t *testing.T) {
	ts, _ := newServer(t, "http://news.example.com/", nil)
	tests := []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "Unholy Alliance"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "Today’s edition"},
		{"GET", "/editions/2026-11-27", 200, "text/html; charset=utf-8", "Korean Central News Agency"},
		{"GET", "/editions/2026-11-27.html", 200, "text/html; charset=utf-8", "Tipsheet"},
		{"GET", "/editions/2026-11-28", 404, "text/html; charset=utf-8", "There is no edition for 2026-11-28."},
		{"GET", "/editions/latest", 404, "text/html; charset=utf-8", "named by their day"},
		{"GET", "/editions/%3Cscript%3E", 404, "text/html; charset=utf-8", "Not found"},
		{"GET", "/archive", 200, "text/html; charset=utf-8", `href="/editions/2026-11-27"`},
		{"GET", "/nowhere", 404, "text/html; charset=utf-8", "There is no page at this address."},
		{"GET", "/feed.rss", 200, feeds.RSSType, "<rss"},
		{"GET", "/feed.atom", 200, feeds.AtomType, "<feed"},
		{"GET", "/feed.json", 200, feeds.JSONType, `"version": "https://jsonfeed.org/version/1.1"`},
		{"GET", "/healthz", 200, "text/plain; charset=utf-8", "ok"},
		{"GET", "/readyz", 200, "text/plain; charset=utf-8", "ready"},
		{"POST", "/", 405, "", ""},
		{"DELETE", "/feed.rss", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body lacks %q:\n%s", tt.contains, body)
			}
			if strings.HasPrefix(tt.contentType, "text/html") && resp.Header.Get("Content-Security-Policy") == "" {
				t.Error("an HTML page without Content-Security-Policy")
			}
		})
	}
}

func TestPagesEscapeAndDiscoverFeeds(t *testing.T) {
	ts, _ := newServer(t, "http://news.example.com/", nil)
	_, body := do(t, "GET", ts.URL+"/")
	if strings.Contains(body, "<Test>") || !strings.Contains(body, "The &lt;Test&gt; Times") {
		t.Error("the site title is not escaped")
	}
	for _, link := range []string{
		`<link rel="alternate" type="application/rss+xml" title="The &lt;Test&gt; Times (RSS)" href="http://news.example.com/feed.rss">`,
		`<link rel="alternate" type="application/atom+xml" title="The &lt;Test&gt; Times (Atom)" href="http://news.example.com/feed.atom">`,
		`<link rel="alternate" type="application/feed+json" title="The &lt;Test&gt; Times (JSON Feed)" href="http://news.example.com/feed.json">`,
	} {
		if !strings.Contains(body, link) {
			t.Errorf("home page lacks %s", link)
		}
	}
}

func TestHeadHasNoBody(t *testing.T) {
	ts, _ := newServer(t, "http://news.example.com/", nil)
	for _, path := range []string{"/", "/archive", "/feed.rss"} {
		resp, body := do(t, "HEAD", ts.URL+path)
		if resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD %s: %d with %d bytes", path, resp.StatusCode, len(body))
		}
		// net/http drops a HEAD body on the wire whatever the handler
		// does, so ask the handler itself, and compare with GET's headers.
		head, get := httptest.NewRecorder(), httptest.NewRecorder()
		ts.Config.Handler.ServeHTTP(head, httptest.NewRequest("HEAD", path, nil))
		ts.Config.Handler.ServeHTTP(get, httptest.NewRequest("GET", path, nil))
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s: the handler wrote %d body bytes", path, head.Body.Len())
		}
		for _, h := range []string{"Content-Type", "ETag", "Last-Modified"} {
			if head.Header().Get(h) != get.Header().Get(h) {
				t.Errorf("HEAD %s: %s %q, GET has %q", path, h, head.Header().Get(h), get.Header().Get(h))
			}
		}
	}
}

func TestBasePathPrefix(t *testing.T) {
	ts, _ := newServer(t, "http://news.example.com/daily/", nil)
	_, body := do(t, "GET", ts.URL+"/daily/")
	if !strings.Contains(body, `href="/daily/archive"`) || !strings.Contains(body, "Unholy Alliance") {
		t.Errorf("GET /daily/: links not under the base path:\n%s", body)
	}
	if resp, _ := do(t, "GET", ts.URL+"/daily/feed.rss"); resp.StatusCode != 200 {
		t.Errorf("GET /daily/feed.rss: %d", resp.StatusCode)
	}
	// Behind a proxy that strips the prefix, the root works too.
	if resp, _ := do(t, "GET", ts.URL+"/archive"); resp.StatusCode != 200 {
		t.Errorf("GET /archive: %d", resp.StatusCode)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(ts.URL + "/daily")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/daily/" {
		t.Errorf("GET /daily: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestFailuresShowNoDetails(t *testing.T) {
	ts, st := newServer(t, "http://news.example.com/", errors.New("dial tcp 10.0.0.1:6379: connection refused"))
	if resp, body := do(t, "GET", ts.URL+"/readyz"); resp.StatusCode != 503 || strings.Contains(body, "10.0.0.1") {
		t.Errorf("readyz with Redis down: %d %q", resp.StatusCode, body)
	}
	st.err = errors.New("secret internal detail")
	resp, body := do(t, "GET", ts.URL+"/editions/2020-01-01")
	if resp.StatusCode != 500 || strings.Contains(body, "secret") || !strings.Contains(body, "Something went wrong") {
		t.Errorf("store failure: %d\n%s", resp.StatusCode, body)
	}
	st.snap = &publish.Snapshot{} // nothing rendered yet
	if resp, _ := do(t, "GET", ts.URL+"/feed.rss"); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("feed before the first render: %d", resp.StatusCode)
	}
	if resp, body := do(t, "GET", ts.URL+"/"); resp.StatusCode != 200 || !strings.Contains(body, "No edition yet") {
		t.Errorf("home before the first edition: %d", resp.StatusCode)
	}
}

func TestSubscribeFormAppearsOnce(t *testing.T) {
	ts, _ := newServer(t, "http://news.example.com/", nil)
	for path, want := range map[string]int{"/": 1, "/archive": 1, "/subscribe": 1} {
		_, body := do(t, "GET", ts.URL+path)
		if got := strings.Count(body, `<form class="subscribe"`); got != want {
			t.Errorf("GET %s: %d subscribe forms, want %d", path, got, want)
		}
	}
}
