// Package web is broadsheet's HTTP side: the public pages, the feeds, health
// checks and the middleware around them.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/challenge"
	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/feeds"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// Site is what the server publishes. publish.Site meets it.
type Site interface {
	Current() *publish.Snapshot
	Edition(ctx context.Context, id string) (digest.Edition, error)
}

// Config is the server's view of the configuration.
type Config struct {
	Title string
	// BaseURL is the site's public URL; page links are built from its path.
	BaseURL *url.URL
	// AdminToken guards /api/ and logs in to the console; empty turns
	// both off.
	AdminToken string
	// SubscribeRate is how many subscribe requests one IP may make a
	// minute (default 20).
	SubscribeRate int
	// TrustProxy names the proxies whose X-Forwarded-For is believed.
	TrustProxy ProxyTrust
	// SubscribeOrigins are other sites (origins such as
	// https://example.com) whose pages may post the subscribe form.
	SubscribeOrigins []string
	// AdminFailuresPerMinute bounds failed admin authentications per client
	// (default 10); past it, /api/ answers 429.
	AdminFailuresPerMinute int
	// BuildTimeout bounds a build started from the API (default
	// DefaultBuildTimeout).
	BuildTimeout time.Duration
}

// Deps are what the server serves and calls.
type Deps struct {
	Site          Site
	Subscriptions *subscription.Service
	Pages         *templates.Set
	// Admin builds and sends editions for the admin API (nil: those
	// endpoints answer 404).
	Admin *EditionAdmin
	// Console, when set, serves the admin console under /admin/ (it
	// needs Subscriptions too).
	Console *Console
	// Metrics, when set, counts feed requests and serves /metrics.
	Metrics Metrics
	// Feedback, when set, lists the reports that came back (bounces,
	// complaints) for the admin API.
	Feedback *feedback.Service
	// Webhooks, when set, takes the providers' webhooks at
	// POST /webhooks/{provider}.
	Webhooks *feedback.Webhooks
	// Ready reports whether the server's dependencies (Redis) answer.
	Ready func(context.Context) error
	// Limits keeps the per-client rate limits (in Redis).
	Limits Limits
	// Challenges makes and checks the proof-of-work challenges offered
	// past the subscribe rate (nil: a flat 429).
	Challenges *challenge.Issuer
	// Now is the server's clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
}

// Server serves the site. Build one with New and mount Handler.
type Server struct {
	site         Site
	subs         *subscription.Service
	pages        *templates.Set
	cfg          Config
	links        templates.Links
	ready        func(context.Context) error
	logger       *slog.Logger
	limits       Limits
	challenges   *challenge.Issuer
	authFailures *failureLog
	buildTimeout time.Duration
	now          func() time.Time
	admin        *EditionAdmin
	metrics      Metrics
	feedback     *feedback.Service
	webhooks     *feedback.Webhooks
	console      *Console
}

// Metrics counts what the server serves and exposes the product's metrics.
type Metrics interface {
	FeedRequest(feed string, status int)
	Handler() http.Handler
}

// New returns a Server.
func New(deps Deps, cfg Config) *Server {
	base := cfg.BaseURL.Path
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if cfg.SubscribeRate <= 0 {
		cfg.SubscribeRate = 20
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = DefaultBuildTimeout
	}
	if cfg.AdminFailuresPerMinute <= 0 {
		cfg.AdminFailuresPerMinute = 10
	}
	abs := func(p string) string { return cfg.BaseURL.ResolveReference(&url.URL{Path: p}).String() }
	return &Server{
		site: deps.Site, subs: deps.Subscriptions, pages: deps.Pages, cfg: cfg, ready: deps.Ready, logger: deps.Logger,
		limits:       deps.Limits,
		challenges:   deps.Challenges,
		authFailures: newFailureLog(deps.Logger, time.Minute),
		buildTimeout: cfg.BuildTimeout,
		now:          deps.Now,
		admin:        deps.Admin,
		metrics:      deps.Metrics,
		feedback:     deps.Feedback,
		webhooks:     deps.Webhooks,
		console:      deps.Console,
		links: templates.Links{
			Base: base, Home: base, Archive: base + "archive", Favicon: base + templates.FaviconFile,
			Site: strings.TrimSuffix(cfg.BaseURL.String(), "/") + "/",
			RSS:  abs(feeds.RSSFile), Atom: abs(feeds.AtomFile), JSON: abs(feeds.JSONFile),
			EditionPrefix: base + "editions/",
		},
	}
}

// Handler returns the server's routes wrapped in its middleware. When the
// base URL has a path (https://example.com/news/), the routes answer under
// it as well as at the root, so the server works behind a proxy that keeps
// or strips the prefix.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.showLatest)
	mux.HandleFunc("GET /editions/{id}", s.showEdition)
	mux.HandleFunc("GET /archive", s.showArchive)
	mux.HandleFunc("GET /archive.html", s.showArchive)
	mux.HandleFunc("GET /index.html", s.showLatest)
	mux.HandleFunc("GET /"+templates.FaviconFile, s.favicon)
	mux.Handle("GET /"+feeds.RSSFile, s.feed("rss", func(f *feeds.Set) *feeds.Document { return f.RSS }))
	mux.Handle("GET /"+feeds.AtomFile, s.feed("atom", func(f *feeds.Set) *feeds.Document { return f.Atom }))
	mux.Handle("GET /"+feeds.JSONFile, s.feed("json", func(f *feeds.Set) *feeds.Document { return f.JSON }))
	if s.metrics != nil {
		mux.HandleFunc("GET /metrics", s.requireAdmin(s.metrics.Handler().ServeHTTP))
	}
	mux.HandleFunc("GET /subscribe", s.showSubscribeForm)
	mux.HandleFunc("POST /subscribe", s.subscribe)
	mux.HandleFunc("GET /confirm/{token}", s.showConfirm)
	mux.HandleFunc("POST /confirm/{token}", s.confirm)
	mux.HandleFunc("POST /confirm/{token}/resend", s.resendConfirmation)
	mux.HandleFunc("GET /unsubscribe/{token}", s.showUnsubscribe)
	mux.HandleFunc("POST /unsubscribe/{token}", s.unsubscribe)
	mux.HandleFunc("GET /preferences/{token}", s.showPreferences)
	mux.HandleFunc("POST /preferences/{token}", s.savePreferences)

	mux.HandleFunc("GET /api/subscribers", s.requireAdmin(s.listSubscribers))
	mux.HandleFunc("POST /api/subscribers", s.requireAdmin(s.addSubscriber))
	mux.HandleFunc("GET /api/subscribers/export", s.requireAdmin(s.exportSubscribers))
	mux.HandleFunc("POST /api/subscribers/import", s.requireAdmin(s.importSubscribers))
	mux.HandleFunc("GET /api/subscribers/{email}", s.requireAdmin(s.getSubscriber))
	mux.HandleFunc("DELETE /api/subscribers/{email}", s.requireAdmin(s.deleteSubscriber))
	mux.HandleFunc("GET /api/stats", s.requireAdmin(s.stats))
	if s.feedback != nil {
		mux.HandleFunc("GET /api/bounces", s.requireAdmin(s.listFeedback))
	}
	if s.admin != nil {
		mux.HandleFunc("POST /api/editions", s.requireAdmin(s.buildEdition))
		mux.HandleFunc("POST /api/editions/{id}/send", s.requireAdmin(s.startSend))
		mux.HandleFunc("GET /api/editions/{id}/send", s.requireAdmin(s.sendStatus))
		mux.HandleFunc("POST /api/editions/{id}/send/{action}", s.requireAdmin(s.controlSend))
		mux.HandleFunc("POST /api/editions/{id}/test", s.requireAdmin(s.sendTest))
	}
	if s.console != nil {
		s.consoleRoutes(mux)
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		mux.HandleFunc(m+" /api/", s.requireAdmin(s.apiNotFound))
	}

	mux.HandleFunc("POST /webhooks/{provider}", s.webhook)
	mux.Handle("GET /static/", staticHandler())

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /", s.notFound)

	var h http.Handler = mux
	if prefix := strings.TrimSuffix(s.cfg.BaseURL.Path, "/"); prefix != "" {
		h = stripPrefix(prefix, mux)
	}
	return s.recoverPanics(h)
}

// stripPrefix serves paths under prefix as if at the root, and every other
// path unchanged.
func stripPrefix(prefix string, h http.Handler) http.Handler {
	stripped := http.StripPrefix(prefix, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, prefix+"/") {
			if r.URL.Path == prefix {
				http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
				return
			}
			stripped.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
