package digest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingFetcher is testFetcher whose retries are counted: every retry
// asks the backoff for its delay first, so retries() is how many attempts
// followed the first.
type countingFetcher struct {
	*Fetcher
	n atomic.Int32
}

func newCountingFetcher(opts FetcherOptions) *countingFetcher {
	c := &countingFetcher{}
	opts.UserAgent = "broadsheet/test"
	if opts.allowAddr == nil {
		opts.AllowPrivate = true
	}
	opts.backoff = func(int) time.Duration { c.n.Add(1); return time.Millisecond }
	c.Fetcher = NewFetcher(opts)
	return c
}

func (c *countingFetcher) retries() int { return int(c.n.Load()) }

// trust makes f accept the certificate of an httptest TLS server, as it
// would a public site's.
func trust(t *testing.T, f *Fetcher, srv *httptest.Server) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	f.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
}

// TestHTTPSSource reads a whole front page over https: the page, its
// headlines (absolute https URLs) and the lead article behind the first one;
// and follows a redirect from http to https.
func TestHTTPSSource(t *testing.T) {
	article, err := os.ReadFile("testdata/web/article.html")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/front", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><body><h2><a href="/2026/11/27/harbour">Harbour bridge reopens</a></h2>
			<h3><a href="https://`+r.Host+`/other">Another story</a></h3></body></html>`)
	})
	mux.HandleFunc("/2026/11/27/harbour", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(article)
	})
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)
	redirect := httptest.NewServer(http.RedirectHandler(tlsSrv.URL+"/front", http.StatusMovedPermanently))
	t.Cleanup(redirect.Close)

	f := testFetcher(FetcherOptions{})
	trust(t, f, tlsSrv)
	for _, start := range []string{tlsSrv.URL + "/front", redirect.URL + "/"} {
		page, err := WebSource{URL: start, Fetcher: f}.FrontPage(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", start, err)
		}
		if len(page.Headlines) != 2 || page.Headlines[0].URL != tlsSrv.URL+"/2026/11/27/harbour" ||
			page.Headlines[1].URL != tlsSrv.URL+"/other" {
			t.Errorf("%s: headlines %+v", start, page.Headlines)
		}
		if page.Lead == nil || page.Lead.Title != "Harbour bridge reopens after a year of repairs" {
			t.Errorf("%s: lead %+v", start, page.Lead)
		}
	}

	// Without trusting the certificate, it is refused like any bad one.
	if _, err := testFetcher(FetcherOptions{Retries: -1}).Get(context.Background(), tlsSrv.URL+"/front"); err == nil {
		t.Error("a certificate nobody signed was accepted")
	}
}

// TestRefusalsNotRetried: what retrying cannot change — a private address,
// a host that refuses connections, a page too large, a 404, a URL that is
// not http — is tried once, however many retries are allowed.
func TestRefusalsNotRetried(t *testing.T) {
	var big atomic.Int32
	s := newSite(t, map[string]http.HandlerFunc{
		"/big": func(w http.ResponseWriter, r *http.Request) {
			big.Add(1)
			w.Write(make([]byte, MaxSourceSize+1))
		},
		"/gone": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) },
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens on its port any more

	var dials atomic.Int32
	private := newCountingFetcher(FetcherOptions{Retries: 3,
		allowAddr: func(netip.AddrPort) bool { dials.Add(1); return false }})
	_, err := private.Get(context.Background(), s.URL+"/front")
	if err == nil || !strings.Contains(err.Error(), "refusing to connect") {
		t.Fatalf("private address: %v", err)
	}
	if private.retries() != 0 || dials.Load() != 1 {
		t.Errorf("a refused private address: %d retries, %d dials; want none and one", private.retries(), dials.Load())
	}

	for _, u := range []string{closed.URL + "/", s.URL + "/big", s.URL + "/gone", "ftp://" + strings.TrimPrefix(s.URL, "http://") + "/x"} {
		f := newCountingFetcher(FetcherOptions{Retries: 3})
		_, err := f.Get(context.Background(), u)
		var fe *FetchError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FetchError", u, err)
		}
		if f.retries() != 0 {
			t.Errorf("%s: retried %d times (%v); want once only", u, f.retries(), err)
		}
	}
	if big.Load() != 1 {
		t.Errorf("the oversized page was downloaded %d times", big.Load())
	}
	if n := s.hitsOf("/gone"); n != 1 {
		t.Errorf("a 410 was asked for %d times", n)
	}
}

// TestPageSizeLimit: a page of exactly MaxSourceSize bytes is read whole;
// one byte more is refused.
func TestPageSizeLimit(t *testing.T) {
	s := newSite(t, map[string]http.HandlerFunc{
		"/exact": func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, MaxSourceSize)) },
		"/over":  func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, MaxSourceSize+1)) },
	})
	f := testFetcher(FetcherOptions{Retries: -1})
	page, err := f.Get(context.Background(), s.URL+"/exact")
	if err != nil || len(page.Body) != MaxSourceSize {
		t.Errorf("a page of exactly %d bytes: %d bytes read, %v", MaxSourceSize, len(page.Body), err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/over"); err == nil || !strings.Contains(err.Error(), "larger than 5 MiB") {
		t.Errorf("a page one byte over: %v", err)
	}
}

// TestRetryAfterHonoured: a 503 or 429 with Retry-After waits that long
// (capped by MaxRetryAfter), not the backoff. The backoff here is an hour,
// so a fetch that ignored the header would only end at the test's deadline.
func TestRetryAfterHonoured(t *testing.T) {
	var calls atomic.Int32
	s := newSite(t, map[string]http.HandlerFunc{"/busy": func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "120")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready"))
	}})
	var backoffs atomic.Int32
	f := NewFetcher(FetcherOptions{AllowPrivate: true, Retries: 1, MaxRetryAfter: time.Millisecond,
		backoff: func(int) time.Duration { backoffs.Add(1); return time.Hour }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	page, err := f.Get(ctx, s.URL+"/busy")
	if err != nil || string(page.Body) != "ready" {
		t.Fatalf("Retry-After: 120 capped at 1ms: %q, %v (the backoff of an hour was used instead?)", page.Body, err)
	}
	if backoffs.Load() != 1 || calls.Load() != 2 {
		t.Errorf("%d requests, %d retries; want 2 and 1", calls.Load(), backoffs.Load())
	}
}

// TestRetryAfterOf reads the header's two forms; anything else is 0 (use
// the backoff).
func TestRetryAfterOf(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": 0, "120": 120 * time.Second, "1": time.Second, "-5": 0, "soon": 0,
		// "0" is 0 whether or not the seconds form accepts it (an HTTP
		// date cannot be "0" either): `s > 0` there would be equivalent.
		"0": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	} {
		if got := retryAfterOf(v); got != want {
			t.Errorf("retryAfterOf(%q) = %v, want %v", v, got, want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfterOf(future); got < 58*time.Minute || got > time.Hour {
		t.Errorf("retryAfterOf(an hour from now) = %v", got)
	}
}

// TestFetcherDefaults pins the documented defaults of FetcherOptions.
func TestFetcherDefaults(t *testing.T) {
	f := NewFetcher(FetcherOptions{})
	if f.opts.ConnectTimeout != 10*time.Second || f.opts.Timeout != 30*time.Second || f.opts.Retries != 3 ||
		f.opts.MaxRetryAfter != time.Minute || f.client.Timeout != 30*time.Second {
		t.Errorf("defaults: %+v, client timeout %v", f.opts, f.client.Timeout)
	}
	tr := f.client.Transport.(*http.Transport)
	if tr.IdleConnTimeout != 30*time.Second || tr.TLSHandshakeTimeout != 10*time.Second || tr.Proxy != nil {
		t.Errorf("transport: idle %v, handshake %v", tr.IdleConnTimeout, tr.TLSHandshakeTimeout)
	}
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		if got := f.opts.backoff(attempt); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	if f.opts.allowAddr(netip.MustParseAddrPort("127.0.0.1:80")) || !f.opts.allowAddr(netip.MustParseAddrPort("93.184.216.34:443")) {
		t.Error("the default address guard does not tell private from public")
	}
	kept := NewFetcher(FetcherOptions{ConnectTimeout: time.Second, Timeout: 2 * time.Second, Retries: 5, MaxRetryAfter: time.Hour, AllowPrivate: true})
	if o := kept.opts; o.ConnectTimeout != time.Second || o.Timeout != 2*time.Second || o.Retries != 5 || o.MaxRetryAfter != time.Hour ||
		!o.allowAddr(netip.MustParseAddrPort("127.0.0.1:80")) {
		t.Errorf("options given were not kept: %+v", o)
	}
	if NewFetcher(FetcherOptions{Retries: -1}).opts.Retries != 0 {
		t.Error("Retries < 0 does not mean none")
	}
}

// TestRedirectLimit: MaxRedirects redirects are followed, one more is not;
// a redirect to another scheme is refused.
func TestRedirectLimit(t *testing.T) {
	s := newSite(t, map[string]http.HandlerFunc{
		"/hop/": func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n == 0 {
				w.Write([]byte("arrived"))
				return
			}
			http.Redirect(w, r, "/hop/"+strconv.Itoa(n-1), http.StatusFound)
		},
		"/ftp": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "ftp://example.com/file", http.StatusFound)
		},
	})
	f := testFetcher(FetcherOptions{Retries: -1})
	page, err := f.Get(context.Background(), s.URL+"/hop/"+strconv.Itoa(MaxRedirects))
	if err != nil || string(page.Body) != "arrived" || page.URL.Path != "/hop/0" {
		t.Errorf("%d redirects: %q at %v, %v", MaxRedirects, page.Body, page.URL, err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/hop/"+strconv.Itoa(MaxRedirects+1)); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("%d redirects: %v", MaxRedirects+1, err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/ftp"); err == nil || !strings.Contains(err.Error(), "ftp") {
		t.Errorf("a redirect to ftp: %v", err)
	}
}

// TestConditionalFetchLastModified: a server that sends only Last-Modified
// gets If-Modified-Since (and no If-None-Match); on its 304 the page comes
// from the cache at the URL it was last found at (after a redirect), so its
// relative links resolve as before.
func TestConditionalFetchLastModified(t *testing.T) {
	const lastMod = "Fri, 27 Nov 2026 06:00:00 GMT"
	var full, notMod atomic.Int32
	var sawETag atomic.Bool
	s := newSite(t, map[string]http.HandlerFunc{
		"/page": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("If-None-Match") != "" {
				sawETag.Store(true)
			}
			if r.Header.Get("If-Modified-Since") == lastMod {
				notMod.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			http.Redirect(w, r, "/canonical/page", http.StatusFound)
		},
		"/canonical/page": func(w http.ResponseWriter, r *http.Request) {
			full.Add(1)
			w.Header().Set("Last-Modified", lastMod)
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("the page"))
		},
	})
	cache := &memCache{m: map[string]CachedResponse{}}
	f := testFetcher(FetcherOptions{Cache: cache})
	first, err := f.Get(context.Background(), s.URL+"/page")
	if err != nil || first.NotModified || first.URL.String() != s.URL+"/canonical/page" {
		t.Fatalf("first fetch: %+v %v", first, err)
	}
	second, err := f.Get(context.Background(), s.URL+"/page")
	if err != nil {
		t.Fatal(err)
	}
	if !second.NotModified || string(second.Body) != "the page" || second.ContentType != "text/html" {
		t.Errorf("second fetch: not-modified=%v %q %q", second.NotModified, second.Body, second.ContentType)
	}
	if second.URL.String() != s.URL+"/canonical/page" {
		t.Errorf("a 304 gave the page at %v, want where it was found, %s/canonical/page", second.URL, s.URL)
	}
	if full.Load() != 1 || notMod.Load() != 1 || sawETag.Load() {
		t.Errorf("%d full answers, %d 304s, If-None-Match sent: %v", full.Load(), notMod.Load(), sawETag.Load())
	}

	// A 304 the fetcher did not ask for (nothing cached) is an error.
	bare := testFetcher(FetcherOptions{Retries: -1})
	if _, err := bare.Get(context.Background(), s.URL+"/canonical/page"); err != nil {
		t.Fatal(err)
	}
	stray := newSite(t, map[string]http.HandlerFunc{"/304": func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}})
	if _, err := testFetcher(FetcherOptions{Retries: -1, Cache: &memCache{m: map[string]CachedResponse{}}}).Get(context.Background(), stray.URL+"/304"); err == nil {
		t.Error("a 304 without a cached copy was taken as a page")
	}
}

// TestConditionalFetchCachedWithoutFinalURL: a cached entry without a
// final URL (written by an older version) answers a 304 at the URL asked.
func TestConditionalFetchCachedWithoutFinalURL(t *testing.T) {
	s := newSite(t, map[string]http.HandlerFunc{"/p": func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}})
	cache := &memCache{m: map[string]CachedResponse{s.URL + "/p": {ETag: `"x"`, Body: []byte("old")}}}
	page, err := testFetcher(FetcherOptions{Cache: cache}).Get(context.Background(), s.URL+"/p")
	if err != nil || page.URL.String() != s.URL+"/p" || string(page.Body) != "old" {
		t.Errorf("%v %q %v", page.URL, page.Body, err)
	}
}

// failingCache fails every read and write.
type failingCache struct{ writes atomic.Int32 }

func (c *failingCache) CachedResponse(context.Context, string) (CachedResponse, bool, error) {
	return CachedResponse{ETag: `"stale"`, Body: []byte("stale")}, true, errors.New("redis down")
}

func (c *failingCache) CacheResponse(context.Context, string, CachedResponse) error {
	c.writes.Add(1)
	return errors.New("redis down")
}

// TestCacheFailureFetchesWhole: a cache that cannot be read makes the
// fetch unconditional (whatever it returned is ignored), and one that
// cannot be written does not fail the fetch.
func TestCacheFailureFetchesWhole(t *testing.T) {
	s := newSite(t, map[string]http.HandlerFunc{"/p": func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"new"`)
		w.Write([]byte("fresh"))
	}})
	c := &failingCache{}
	page, err := testFetcher(FetcherOptions{Cache: c}).Get(context.Background(), s.URL+"/p")
	if err != nil || page.NotModified || string(page.Body) != "fresh" {
		t.Errorf("%q not-modified=%v %v", page.Body, page.NotModified, err)
	}
	if c.writes.Load() != 1 {
		t.Errorf("%d cache writes, want 1", c.writes.Load())
	}
}

// TestUnreachableIsNotTimeout: a refused connection says "unreachable" and
// is not retried; only a timeout is.
func TestUnreachableIsNotTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := newCountingFetcher(FetcherOptions{Retries: 2})
	_, err = f.Get(context.Background(), "http://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "unreachable") || f.retries() != 0 {
		t.Errorf("a closed port: %v after %d retries", err, f.retries())
	}
}

// TestNoRetryAfterMeansBackoff: a 503 without Retry-After, or with
// "Retry-After: 0", waits the backoff (an hour here, so the fetch is still
// waiting when its context ends), not zero.
func TestNoRetryAfterMeansBackoff(t *testing.T) {
	for _, header := range []string{"", "0"} {
		var calls atomic.Int32
		s := newSite(t, map[string]http.HandlerFunc{"/busy": func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				if header != "" {
					w.Header().Set("Retry-After", header)
				}
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("ready"))
		}})
		f := NewFetcher(FetcherOptions{AllowPrivate: true, Retries: 1,
			backoff: func(int) time.Duration { return time.Hour }})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := f.Get(ctx, s.URL+"/busy")
		cancel()
		if err == nil || !strings.Contains(err.Error(), "canceled while waiting to retry") || calls.Load() != 1 {
			t.Errorf("Retry-After %q: %v after %d requests; want still waiting out the backoff", header, err, calls.Load())
		}
	}
}

// TestCacheWriteFailureLogged: a page that cannot be cached is still
// returned, with a warning in the log; one cached fine logs nothing.
func TestCacheWriteFailureLogged(t *testing.T) {
	s := newSite(t, map[string]http.HandlerFunc{"/p": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v"`)
		w.Write([]byte("page"))
	}})
	for _, c := range []struct {
		cache HTTPCache
		warn  bool
	}{{&failingCache{}, true}, {&memCache{m: map[string]CachedResponse{}}, false}} {
		var log strings.Builder
		f := testFetcher(FetcherOptions{Cache: c.cache, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		page, err := f.Get(context.Background(), s.URL+"/p")
		if err != nil || string(page.Body) != "page" {
			t.Fatalf("%q %v", page.Body, err)
		}
		if got := strings.Contains(log.String(), "Unable to cache"); got != c.warn {
			t.Errorf("%T: warning logged %v, want %v:\n%s", c.cache, got, c.warn, log.String())
		}
	}
}

// TestBrokenDownloadRetried: a body that breaks off before its announced
// length is a failed fetch that may succeed next time: it is retried, and
// the error says the download broke off.
func TestBrokenDownloadRetried(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("<html><body>only the start"))
		// Returning early leaves the body short of its length: net/http
		// closes the connection.
	}))
	t.Cleanup(srv.Close)
	f := newCountingFetcher(FetcherOptions{Retries: 2})
	_, err := f.Get(context.Background(), srv.URL+"/")
	var fe *FetchError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "the download broke off: ") {
		t.Fatalf("a short body: %v", err)
	}
	if f.retries() != 2 || hits.Load() != 3 {
		t.Errorf("a short body: %d retries, %d requests; want 2 and 3", f.retries(), hits.Load())
	}
}
