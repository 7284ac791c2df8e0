package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/spool"
	"github.com/broadsheet-news/broadsheet/templates"
	"github.com/broadsheet-news/broadsheet/web"
)

// pollEvery is how often serve checks the editions version, in case it
// missed a change announcement while reconnecting to Redis.
const pollEvery = 5 * time.Second

// resumeEvery is how often serve looks for send jobs to join: every
// serve takes part in every send within a second of its start.
const resumeEvery = time.Second

// mailboxEvery is how often serve reads the bounce mailbox.
const mailboxEvery = time.Minute

// outageEvery is how often serve pings Redis to tell when an outage ends.
const outageEvery = time.Second

// spoolEvery is how often serve tries to apply reader actions spooled
// while Redis was away.
const spoolEvery = time.Second

// countEvery is how often serve records the day's active-subscriber count
// (the console's chart shows each day's last).
const countEvery = 10 * time.Minute

// outboxEvery is how often serve looks for queued mails (confirmations).
const outboxEvery = 250 * time.Millisecond

func runServe(ctx context.Context, args []string, sys stdio) error {
	cfg := newConfig()
	f := newFlags("serve", "[flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.linkFlags(f)
	cfg.editionFlags(f)
	cfg.mailFlags(f)
	cfg.digestFlags(f)
	cfg.sendingFlags(f)
	f.section("")
	f.string(&cfg.ConsentText, "consent-version", "1", "version of the consent text the subscribe form shows, recorded with each subscription")
	f.bool(&cfg.WelcomeEdition, "welcome-edition", true, "mail the latest edition to each new subscriber as they confirm (it counts as their copy of that edition's send)")
	f.string(&cfg.WebSubHub, "websub-hub", "", "URL of a WebSub hub: the feeds name it, and each new or changed edition is announced to it")
	f.int(&cfg.SubscribeRate, "subscribe-rate", 20, "subscribe requests one client (IPv4 address, IPv6 /64) may make a minute, over all instances; past it, a proof-of-work challenge")
	f.string(&cfg.TrustProxy, "trust-proxy", "false", `the proxies in front of serve, as CIDR prefixes or addresses ("10.0.0.0/8,127.0.0.1"): the client IP is the right-most X-Forwarded-For address that is not one of them; "true": the peer is one proxy, whatever its address; "false": none`)
	f.string(&cfg.SubscribeOrigins, "subscribe-origins", "", "other sites (https://example.com,…) whose pages may post the subscribe form; posts from anywhere else get 403")
	f.duration(&cfg.CatchUp, "catch-up", 3*time.Hour, "a scheduled run missed while down is made at start if it was due less than this long ago (later: built, not sent)")
	cfg.inboundFlags(f)
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("serve: unexpected argument %q", f.fs.Arg(0))
	}
	if cfg.SubscribeRate < 1 {
		return usageErrorf("--subscribe-rate must be at least 1")
	}
	proxies, err := web.ParseProxyTrust(cfg.TrustProxy)
	if err != nil {
		return usageErrorf("--trust-proxy: %v", err)
	}
	origins, err := web.ParseOrigins(cfg.SubscribeOrigins)
	if err != nil {
		return usageErrorf("--subscribe-origins: %v", err)
	}
	if cfg.CatchUp < 0 {
		return usageErrorf("--catch-up must not be negative (0 builds a missed run without sending it)")
	}
	if _, err := parseSchedule(cfg.Schedule); err != nil {
		return err
	}
	if _, _, err := feedback.ParseSoftLimit(cfg.SoftBounceLimit); err != nil {
		return usageErrorf("--soft-bounce-limit: %v", err)
	}
	// Listen before opening Redis, so a taken port fails fast.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return listenError(cfg.Listen, err)
	}
	defer ln.Close()
	if cfg.InboundListen != "" && cfg.BounceAddress == "" {
		return usageErrorf("--inbound-listen needs --bounce-address (the address reports come back to)")
	}
	inboundTLS, err := cfg.inboundTLS()
	if err != nil {
		return err
	}
	var inbound net.Listener
	if cfg.InboundListen != "" {
		if inbound, err = net.Listen("tcp", cfg.InboundListen); err != nil {
			return fmt.Errorf("listen on %s (--inbound-listen): %w", cfg.InboundListen, err)
		}
		defer inbound.Close()
	}

	// Reader actions (confirm, unsubscribe, preferences) that arrive while
	// Redis is away are kept here, and applied when it is back.
	if cfg.readerSpool, err = spool.Open(filepath.Join(cfg.DataDir, "spool", "reader-actions.jsonl")); err != nil {
		return err
	}
	a, err := newApp(ctx, &cfg, sys)
	if err != nil {
		return err
	}
	defer a.Close()
	var mailbox *feedback.Mailbox
	if cfg.BounceMailbox != "" {
		if cfg.BounceAddress == "" {
			return usageErrorf("$BROADSHEET_BOUNCE_MAILBOX needs --bounce-address (the address reports come back to)")
		}
		if mailbox, err = feedback.ParseMailbox(cfg.BounceMailbox); err != nil {
			return usageErrorf("$BROADSHEET_BOUNCE_MAILBOX: %v", err)
		}
	}
	reports, err := a.feedbackService(a.signer)
	if err != nil {
		return err
	}
	webhooks, err := cfg.Webhooks.open(reports)
	if err != nil {
		return err
	}
	if err := a.openSending(); err != nil {
		return err
	}
	a.warnMail()
	log := a.logger
	schedule := cfg.schedule
	var announcer publish.Announcer
	if cfg.WebSubHub != "" {
		websub := publish.NewWebSub(cfg.WebSubHub, a.pub.FeedURLs(), publish.WebSubOptions{}, log)
		defer websub.Wait()
		announcer = websub
	}
	site := publish.NewSite(a.pub, announcer, log)
	src := a.source(sys)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.store.WatchEditions(ctx, pollEvery, func() { site.Changed(ctx) }) })
	wg.Go(func() { a.subs.RunOutbox(ctx, outboxEvery) })
	if inbound != nil {
		defer startInbound(ctx, reports, inbound, inboundTLS, log)()
	}
	if mailbox != nil {
		log.Info("Reading the bounce mailbox every minute", slog.Any("mailbox", mailbox))
		wg.Go(func() { feedback.NewPoller(reports, mailbox, nil, log).Run(ctx, mailboxEvery) })
	}
	wg.Go(func() { a.subs.RunSpool(ctx, spoolEvery) })
	wg.Go(func() { a.outage.Run(ctx, outageEvery) })

	wg.Go(func() { a.subs.RunActiveCounter(ctx, countEvery, a.pub.Today) })

	if err := site.Refresh(ctx); err != nil {
		return err
	}
	wg.Go(func() { a.sender.RunResumer(ctx, resumeEvery) })
	defer a.sender.Wait()

	// Start-up work that reads the source runs after the server listens
	// (a slow source must not keep /healthz silent); /readyz says "not
	// ready" until it is done. The run the schedule missed comes first, so
	// a newcomer's first edition is built once, not twice.
	var started atomic.Bool
	var daily *publish.Daily
	if schedule != nil {
		daily = publish.NewDaily(a.pub, a.sender, a.store, a.store, src, cfg.CatchUp, log)
	}
	wg.Go(func() {
		defer started.Store(true)
		if daily != nil {
			now := time.Now().In(cfg.location)
			daily.CatchUp(ctx, previousRun(schedule, now), now, schedule.Next(now))
		}
		if latest, err := a.store.LatestEditions(ctx, 1); err == nil && len(latest) == 0 {
			// A newcomer sees a page at once.
			if _, err := a.pub.Build(ctx, src, ""); err != nil {
				log.Error("Unable to build the first edition", slog.Any("error", err))
			}
		} else if err == nil {
			checkSource(ctx, cfg.Source, src, log)
		}
		site.Changed(ctx)
	})
	if daily != nil {
		c := cron.New(cron.WithLocation(cfg.location),
			cron.WithChain(cron.Recover(cronLogger{log})), cron.WithLogger(cronLogger{log}))
		c.Schedule(schedule, cron.FuncJob(func() { daily.Run(ctx, schedule.Next(time.Now())) }))
		c.Start()
		defer func() { <-c.Stop().Done() }()
		log.Info("Schedule on: build, then send", slog.String("spec", cfg.Schedule), slog.String("timezone", cfg.Timezone),
			slog.Time("next", schedule.Next(time.Now().In(cfg.location))))
	}
	ready := func(ctx context.Context) error {
		if !started.Load() {
			return errStarting
		}
		return a.store.Ping(ctx)
	}

	consolePages, err := templates.NewConsole()
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: web.New(web.Deps{Site: site, Subscriptions: a.subs, Pages: a.pages, Ready: ready, Logger: log,
			Metrics: a.metrics, Feedback: reports, Webhooks: webhooks, Limits: a.store, Challenges: a.challenges,
			Console: &web.Console{Sessions: a.store, Pages: consolePages, Today: a.pub.Today,
				Preview: publish.NewPreviewer(a.digestOf, a.subs).Preview},
			Admin: &web.EditionAdmin{
				Build: func(ctx context.Context, day string) (publish.Result, error) {
					return a.pub.Build(ctx, src, day)
				},
				Sender: a.sender, RememberKey: a.store.RememberIdempotencyKey, Background: ctx,
			}},
			web.Config{Title: cfg.Title, BaseURL: cfg.baseURL, AdminToken: cfg.AdminToken,
				SubscribeRate: cfg.SubscribeRate, TrustProxy: proxies, SubscribeOrigins: origins}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("Serving", slog.String("listen", ln.Addr().String()), slog.String("url", cfg.baseURL.String()))

	select {
	case err := <-served:
		cancel()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("Shutting down")
	shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	err = srv.Shutdown(shutdownCtx)
	cancel()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}

// checkSource reads a file source once at start, so that a missing or
// broken one is said at once rather than at the next build, hours later.
// Web sources are not fetched here: the first build checks them.
func checkSource(ctx context.Context, source string, src publish.Source, log *slog.Logger) {
	if source == "" || source == "-" {
		return
	}
	if isWebSource(source) {
		log.Info("The web source is checked on the first build", slog.String("source", source))
		return
	}
	if _, err := src.FrontPage(ctx); err != nil {
		log.Warn("The source cannot be read: serving the editions already built, but builds fail until it is fixed (--source, $BROADSHEET_SOURCE)",
			slog.String("source", source), slog.Any("error", err))
	}
}

// listenError says why serve cannot listen on addr, naming the flag and
// the variable that choose another address.
func listenError(addr string, err error) error {
	why := err.Error()
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		why = "the address is already in use (by another broadsheet serve?)"
	case errors.Is(err, syscall.EACCES):
		why = "permission denied (ports below 1024 need privileges)"
	}
	return fmt.Errorf("cannot listen on %s: %s; choose another address with --listen or $BROADSHEET_LISTEN", addr, why)
}

// cronLogger adapts slog to robfig/cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, slog.Any("error", err))...)
}

// errStarting: serve's start-up work (catch-up, first edition) is not done.
var errStarting = errors.New("starting: building the first edition")

// previousRun is the last time schedule fired before now (zero if none in
// the last two days).
func previousRun(schedule cron.Schedule, now time.Time) time.Time {
	var prev time.Time
	for t := schedule.Next(now.Add(-48 * time.Hour)); !t.IsZero() && !t.After(now); t = schedule.Next(t) {
		prev = t
	}
	return prev
}
