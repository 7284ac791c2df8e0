package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/templates"
	"github.com/broadsheet-news/broadsheet/web"
)

// pollEvery is how often serve checks the editions version, in case it
// missed a change announcement while reconnecting to Redis.
const pollEvery = 5 * time.Second

// resumeEvery is how often serve looks for send jobs to join: every
// serve takes part in every send within a second of its start.
const resumeEvery = time.Second

// countEvery is how often serve records the day's active-subscriber count
// (the console's chart shows each day's last).
const countEvery = 10 * time.Minute

// outboxEvery is how often serve looks for queued mails (confirmations).
const outboxEvery = 250 * time.Millisecond

func runServe(ctx context.Context, args []string, sys stdio) error {
	var cfg config
	f := newFlags("serve", "[flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.siteFlags(f)
	cfg.mailFlags(f)
	cfg.sendFlags(f)
	f.int(&cfg.SubscribeRate, "subscribe-rate", 20, "subscribe requests one IP may make a minute")
	f.bool(&cfg.TrustProxy, "trust-proxy", false, "take the client IP from X-Forwarded-For (only behind a proxy that sets it)")
	f.string(&cfg.Schedule, "schedule", "0 6 * * *", `cron spec (in --timezone) for building today's edition and sending it; "off" leaves it to an external cron running "broadsheet build" and "broadsheet send"`)
	f.duration(&cfg.CatchUp, "catch-up", 3*time.Hour, "a scheduled run missed while down is made at start if it was due less than this long ago (later: built, not sent)")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("serve: unexpected argument %q", f.fs.Arg(0))
	}
	if cfg.SubscribeRate < 1 {
		return usageErrorf("--subscribe-rate must be at least 1")
	}
	if cfg.CatchUp < 0 {
		return usageErrorf("--catch-up must not be negative (0 builds a missed run without sending it)")
	}
	schedule, err := parseSchedule(cfg.Schedule)
	if err != nil {
		return err
	}
	// Listen before opening Redis, so a taken port fails fast.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	defer ln.Close()

	a, err := newApp(ctx, &cfg, sys)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.openSending(); err != nil {
		return err
	}
	log := a.logger
	site := publish.NewSite(a.pub, log)
	src := a.source(sys)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.store.WatchEditions(ctx, pollEvery, func() { site.Changed(ctx) }) })
	wg.Go(func() { a.subs.RunOutbox(ctx, outboxEvery) })
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
		daily = publish.NewDaily(a.pub, a.sender, a.store, src, cfg.CatchUp, log)
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
			Metrics: a.metrics,
			Console: &web.Console{Sessions: a.store, Pages: consolePages, Today: a.pub.Today,
				Preview: publish.NewPreviewer(a.digestOf, a.subs).Preview},
			Admin: &web.EditionAdmin{
				Build: func(ctx context.Context, day string) (publish.Result, error) {
					return a.pub.Build(ctx, src, day)
				},
				Sender: a.sender, RememberKey: a.store.RememberIdempotencyKey, Background: ctx,
			}},
			web.Config{Title: cfg.Title, BaseURL: cfg.baseURL, AdminToken: cfg.AdminToken,
				SubscribeRate: cfg.SubscribeRate, TrustProxy: cfg.TrustProxy}).Handler(),
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
