package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// CachedResponse is what the fetcher remembers of a URL, to ask for it
// conditionally next time and to reuse its body on a 304.
type CachedResponse struct {
	ETag, LastModified string
	ContentType        string
	FinalURL           string
	Body               []byte
}

// HTTPCache keeps CachedResponses (in Redis: store.Store meets it).
type HTTPCache interface {
	CachedResponse(ctx context.Context, url string) (CachedResponse, bool, error)
	CacheResponse(ctx context.Context, url string, r CachedResponse) error
}

// FetcherOptions configure a Fetcher.
type FetcherOptions struct {
	// UserAgent is sent with every request: "broadsheet/1.0 (+https://…)".
	UserAgent string
	// AllowPrivate lets the fetcher connect to loopback, private,
	// link-local and other non-public addresses (tests, intranet sources).
	AllowPrivate bool
	// ConnectTimeout bounds each connection (default 10s); Timeout a whole
	// request, body included (default 30s).
	ConnectTimeout, Timeout time.Duration
	// Retries is how many times a 5xx, a 429 or a timeout is retried
	// (0: the default, 3; negative: none), after 1s, 2s, 4s… or the
	// server's Retry-After (at most MaxRetryAfter, default 60s).
	Retries       int
	MaxRetryAfter time.Duration
	// Cache, when set, makes requests conditional (ETag, Last-Modified).
	Cache  HTTPCache
	Logger *slog.Logger

	// allowAddr, in tests, decides which addresses may be dialled
	// (default: public ones, or any with AllowPrivate).
	allowAddr func(netip.AddrPort) bool
	// backoff, in tests, replaces the retry delays.
	backoff func(attempt int) time.Duration
}

// MaxRedirects is how many redirects a fetch follows.
const MaxRedirects = 5

// Fetcher gets source pages over HTTP safely: timeouts, a body cap, a
// bounded number of redirects, retries, conditional requests, and no
// connection to a private address (checked when connecting, so DNS
// rebinding cannot get round it, on every redirect too).
type Fetcher struct {
	client *http.Client
	opts   FetcherOptions
}

// NewFetcher returns a Fetcher.
func NewFetcher(opts FetcherOptions) *Fetcher {
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	switch {
	case opts.Retries == 0:
		opts.Retries = 3
	case opts.Retries < 0:
		opts.Retries = 0
	}
	if opts.MaxRetryAfter == 0 {
		opts.MaxRetryAfter = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.allowAddr == nil {
		allowPrivate := opts.AllowPrivate
		opts.allowAddr = func(ap netip.AddrPort) bool { return allowPrivate || IsPublicAddr(ap.Addr()) }
	}
	if opts.backoff == nil {
		opts.backoff = func(attempt int) time.Duration { return time.Second << attempt }
	}
	dialer := &net.Dialer{
		Timeout: opts.ConnectTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &forbiddenAddrError{addr: address}
			}
			if !opts.allowAddr(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())) {
				return &forbiddenAddrError{addr: ap.Addr().Unmap().String()}
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the guard
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.ConnectTimeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("a redirect to a %s: URL", req.URL.Scheme)
			}
			return nil
		},
	}
	return &Fetcher{client: client, opts: opts}
}

// forbiddenAddrError is the dial refusal of a non-public address.
type forbiddenAddrError struct{ addr string }

func (e *forbiddenAddrError) Error() string {
	return "refusing to connect to " + e.addr + ", a private or local address (set BROADSHEET_SOURCE_ALLOW_PRIVATE=true for an intranet source)"
}

// Page is a fetched resource.
type Page struct {
	URL         *url.URL // after redirects
	ContentType string
	Body        []byte
	// NotModified: the server answered 304 and Body is the cached copy.
	NotModified bool
}

// FetchError is a source that could not be fetched; its message is one
// sentence.
type FetchError struct {
	URL    string
	Reason string
	Err    error
}

func (e *FetchError) Error() string { return "fetch " + e.URL + ": " + e.Reason }

func (e *FetchError) Unwrap() error { return e.Err }

// Get fetches rawURL (http or https).
func (f *Fetcher) Get(ctx context.Context, rawURL string) (Page, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Page{}, &FetchError{URL: rawURL, Reason: "not an http or https URL"}
	}
	var cached CachedResponse
	var haveCached bool
	if f.opts.Cache != nil {
		if cached, haveCached, err = f.opts.Cache.CachedResponse(ctx, rawURL); err != nil {
			f.opts.Logger.Warn("Unable to read the source cache", slog.Any("error", err))
			haveCached = false
		}
	}
	for attempt := 0; ; attempt++ {
		page, retryAfter, err := f.try(ctx, rawURL, cached, haveCached)
		if err == nil || retryAfter < 0 || attempt >= f.opts.Retries {
			return page, err
		}
		wait := f.opts.backoff(attempt)
		if retryAfter > 0 {
			wait = min(retryAfter, f.opts.MaxRetryAfter)
		}
		f.opts.Logger.Info("Source fetch failed; retrying", slog.String("url", rawURL),
			slog.Any("error", err), slog.Duration("in", wait))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return Page{}, &FetchError{URL: rawURL, Reason: "canceled while waiting to retry", Err: ctx.Err()}
		}
	}
}

// try makes one request. retryAfter < 0: do not retry; 0: retry after the
// backoff; > 0: retry after that long.
func (f *Fetcher) try(ctx context.Context, rawURL string, cached CachedResponse, haveCached bool) (Page, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Page{}, -1, &FetchError{URL: rawURL, Reason: "bad request", Err: err}
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "text/html, application/xhtml+xml, application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.5")
	if haveCached {
		if cached.ETag != "" {
			req.Header.Set("If-None-Match", cached.ETag)
		}
		if cached.LastModified != "" {
			req.Header.Set("If-Modified-Since", cached.LastModified)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var fe *forbiddenAddrError
		if errors.As(err, &fe) {
			return Page{}, -1, &FetchError{URL: rawURL, Reason: fe.Error(), Err: err}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
			return Page{}, 0, &FetchError{URL: rawURL, Reason: "timed out", Err: err}
		}
		return Page{}, -1, &FetchError{URL: rawURL, Reason: "unreachable: " + err.Error(), Err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && haveCached:
		final, _ := url.Parse(cached.FinalURL)
		if final == nil || final.Host == "" {
			final = resp.Request.URL
		}
		return Page{URL: final, ContentType: cached.ContentType, Body: cached.Body, NotModified: true}, 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Page{}, retryAfterOf(resp.Header.Get("Retry-After")), &FetchError{URL: rawURL, Reason: "the server answered " + resp.Status}
	case resp.StatusCode != http.StatusOK:
		return Page{}, -1, &FetchError{URL: rawURL, Reason: "the server answered " + resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSourceSize+1))
	if err != nil {
		return Page{}, 0, &FetchError{URL: rawURL, Reason: "the download broke off: " + err.Error(), Err: err}
	}
	if len(body) > MaxSourceSize {
		return Page{}, -1, &FetchError{URL: rawURL, Reason: fmt.Sprintf("the page is larger than %d MiB", MaxSourceSize>>20)}
	}
	page := Page{URL: resp.Request.URL, ContentType: resp.Header.Get("Content-Type"), Body: body}
	etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if f.opts.Cache != nil && (etag != "" || lastMod != "") {
		err := f.opts.Cache.CacheResponse(ctx, rawURL, CachedResponse{ETag: etag, LastModified: lastMod,
			ContentType: page.ContentType, FinalURL: page.URL.String(), Body: body})
		if err != nil {
			f.opts.Logger.Warn("Unable to cache a source page", slog.Any("error", err))
		}
	}
	return page, 0, nil
}

// retryAfterOf reads a Retry-After header (seconds or an HTTP date); 0
// when absent or unreadable.
func retryAfterOf(v string) time.Duration {
	if v == "" {
		return 0
	}
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `s > 0` sends a "0" on to http.ParseTime, which fails on it: 0 all the same.
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		// Equivalent mutant (CONDITIONALS_BOUNDARY): `d >= 0` returns a d of 0, the 0 returned below.
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
