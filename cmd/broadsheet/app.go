package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/broadsheet-news/broadsheet/challenge"
	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/internal/logs"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// app gathers the parts every command shares.
type app struct {
	cfg          *config
	logger       *slog.Logger
	redis        *redisConn
	store        *store.Store
	pages        *templates.Set
	pub          *publish.Publisher
	mail         *mailer.Mailer
	subs         *subscription.Service
	composer     *mailer.Composer
	opener       mailer.Opener
	messageIDKey []byte // the secret that signs links also keys Message-IDs
	challenges   *challenge.Issuer
	outage       *logs.Outage
	dkim         *mailer.DKIM
	// Sending editions: set by openSending.
	digestOf func(digest.Edition) (*mailer.Digest, error)
	sender   *publish.Sender
	welcome  *publish.Welcome // nil without --welcome-edition
	metrics  *metrics
	// Reports coming back: set when --bounce-address is.
	signer    *subscription.Signer
	addresses *feedback.Addresses
	// warnMail logs the mail settings a bulk sender will regret (no
	// postal address, a DKIM domain not the sender's): called once, by
	// the commands that mail editions.
	warnMail func()
}

// newApp validates cfg and wires the parts. Close releases them.
func newApp(ctx context.Context, cfg *config, sys stdio) (*app, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := cfg.secretsFromEnv(sys.getenv); err != nil {
		return nil, err
	}
	logger, err := cfg.logger(sys.stderr)
	if err != nil {
		return nil, err
	}
	// A Redis outage is two lines (start, end), not an error from every
	// loop that polls Redis; the ping is set once Redis is open.
	var ping atomic.Pointer[func(context.Context) error]
	outage := logs.NewOutage(logger, func(ctx context.Context) error {
		if p := ping.Load(); p != nil {
			return (*p)(ctx)
		}
		return nil
	}, time.Now)
	logger = slog.New(outage.Handler(logger.Handler()))
	pages, err := templates.New()
	if err != nil {
		return nil, err
	}
	mails, err := templates.NewMails()
	if err != nil {
		return nil, err
	}
	composer, err := mailer.NewComposer(cfg.From, time.Now)
	if err != nil {
		return nil, usageErrorf("--from: %v", err)
	}
	dkim, err := cfg.DKIM.load(composer, logger)
	if err != nil {
		return nil, err
	}
	var transport interface {
		mailer.Transport
		mailer.Opener
	}
	if cfg.SMTPURL != "" {
		smtp, err := mailer.NewSMTP(cfg.SMTPURL, mailer.SMTPOptions{Logger: logger})
		if err != nil {
			return nil, usageErrorf("$BROADSHEET_SMTP_URL: %v", err)
		}
		transport = smtp
	} else {
		dir := filepath.Join(cfg.DataDir, "outbox")
		md, err := mailer.NewMaildir(dir)
		if err != nil {
			return nil, err
		}
		logger.Debug("Mail goes to a Maildir (BROADSHEET_SMTP_URL is unset)", slog.String("dir", dir))
		transport = md
	}
	conn, err := openRedis(ctx, cfg, logger)
	if err != nil {
		transport.Close()
		return nil, err
	}
	wait, err := waitReplicas(ctx, cfg.RedisWaitReplicas, cfg.RedisURL != "", conn.rdb, logger)
	if err != nil {
		transport.Close()
		conn.close()
		return nil, err
	}
	st := store.New(conn.rdb, store.Options{Prefix: cfg.RedisPrefix, KeepEditions: cfg.KeepEditions, WaitReplicas: wait, Logger: logger})
	storePing := st.Ping
	ping.Store(&storePing)
	m := newMetrics(st)
	a := &app{cfg: cfg, logger: logger, redis: conn, store: st, pages: pages, metrics: m, outage: outage,
		mail: mailer.New(composer, transport, dkim, logger), composer: composer, opener: transport, dkim: dkim}
	a.pub = publish.New(st, pages, publish.Config{
		Title:    cfg.Title,
		BaseURL:  cfg.baseURL,
		Location: cfg.location,
		Observer: m,
		Schedule: cfg.schedule,
		Hub:      cfg.WebSubHub,
	}, time.Now, logger)

	secrets := cfg.Secrets
	if len(secrets) == 0 {
		// No BROADSHEET_SECRET: one generated once and kept in Redis, so
		// links in mails already sent survive restarts.
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		kept, err := st.Secret(ctx, hex.EncodeToString(b))
		if err != nil {
			a.Close()
			return nil, err
		}
		secrets = []string{kept}
	}
	a.messageIDKey = []byte(secrets[0])
	// The proof-of-work challenges are signed with a key of their own,
	// derived from the secret.
	challengeKey := sha256.Sum256([]byte("broadsheet proof-of-work challenge\x00" + secrets[0]))
	if a.challenges, err = challenge.New(challengeKey[:], challenge.Options{}); err != nil {
		a.Close()
		return nil, err
	}
	signer, err := subscription.NewSigner(secrets)
	if err != nil {
		a.Close()
		return nil, usageErrorf("$BROADSHEET_SECRET: %v", err)
	}
	a.signer = signer
	if err := a.openFeedback(signer); err != nil {
		a.Close()
		return nil, err
	}
	var returnPath func(int64, time.Time) string
	if a.addresses != nil {
		returnPath = a.addresses.ConfirmationReturnPath
	}
	var readerSpool subscription.Spool
	if cfg.readerSpool != nil {
		readerSpool = cfg.readerSpool
	}
	a.subs = subscription.New(st, a.mail, signer, subscription.Config{
		Title: cfg.Title, BaseURL: cfg.baseURL, ConsentText: cfg.ConsentText, ReturnPath: returnPath, Spool: readerSpool,
		Frequency: strings.TrimSpace(cfg.Frequency),
		RenderConfirmation: func(m subscription.ConfirmationMail) (string, string, string, error) {
			return mails.Confirmation(templates.ConfirmationData(m))
		},
		Welcomer: welcomeHook{a},
	}, time.Now, logger)
	return a, nil
}

// openSending wires what mails editions — the edition mail's templates
// (with their overrides) and DKIM key, the delivery engine, the sender —
// for the commands that use them (serve, send, preview): a mistake in them
// stops the command at start, with the file and line. Other commands
// neither load nor check them.
func (a *app) openSending() error {
	cfg := a.cfg
	if err := cfg.validateSending(); err != nil {
		return err
	}
	editionMails, digestCfg, err := cfg.Mail.load(cfg, a.dkim)
	if err != nil {
		return err
	}
	digestCfg.MessageIDKey = a.messageIDKey
	if a.addresses != nil {
		digestCfg.ReturnPaths = a.addresses
	} else {
		digestCfg.UnsubscribeMailbox = "-" // nothing reads it: no mailto:
	}
	a.digestOf = func(e digest.Edition) (*mailer.Digest, error) {
		return mailer.NewDigest(a.composer, editionMails, e, digestCfg)
	}
	engine := mailer.NewEngine(a.store, a.store, a.subs, a.opener, a.digestOf, mailer.EngineOptions{
		Connections: cfg.SMTPConnections, Rate: cfg.SendRate, RetryFor: cfg.RetryFor, Lease: cfg.SendLease,
		BounceBreaker: cfg.bounceBreaker,
		Owner:         senderName(), Logger: a.logger, Observer: a.metrics, Pacer: a.store,
	})
	a.sender = publish.NewSender(engine, a.store, a.store, time.Now, a.logger)
	if cfg.WelcomeEdition {
		a.welcome = publish.NewWelcome(a.store, mailer.NewWelcomer(a.store, a.subs, a.opener, a.digestOf, time.Now), a.logger)
	}
	a.warnMail = func() {
		cfg.Mail.warn(a.logger)
		if cfg.SMTPURL != "" && cfg.baseURL.Scheme == "http" {
			a.logger.Warn("The base URL is http://, so the edition mail's one-click unsubscribe link is too: Gmail and Yahoo require an https one; set --base-url https://…",
				slog.String("base_url", cfg.baseURL.String()))
		}
	}
	return nil
}

// welcomeHook hands a confirmation to the welcome use case once
// openSending has wired it (serve, with --welcome-edition).
type welcomeHook struct{ a *app }

func (h welcomeHook) Welcome(ctx context.Context, sub digest.Subscriber) error {
	if h.a.welcome == nil {
		return nil
	}
	return h.a.welcome.Welcome(ctx, sub)
}

// senderName names this process in send-job leases: host, pid and a
// random part (two containers may share a host name and a pid).
func senderName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), rand.Text()[:10])
}

func (a *app) Close() error {
	err := a.mail.Close()
	if cerr := a.redis.close(); err == nil {
		err = cerr
	}
	return err
}

// version is broadsheet's version, sent in the User-Agent of source fetches.
const version = "0.1.0"

// source returns the configured front-page source.
func (a *app) source(sys stdio) publish.Source {
	c := a.cfg
	switch {
	case c.Source == "":
		return digest.SampleSource{}
	case isWebSource(c.Source):
		retries := c.SourceRetries
		if retries == 0 {
			retries = -1 // the fetcher's "none"; its 0 means its default
		}
		return digest.WebSource{
			URL: c.Source,
			Fetcher: digest.NewFetcher(digest.FetcherOptions{
				UserAgent:    "broadsheet/" + version + " (+" + c.baseURL.String() + ")",
				AllowPrivate: c.SourceAllowPrivate,
				Retries:      retries,
				Cache:        a.store,
				Logger:       a.logger,
			}),
			HTML: digest.HTMLOptions{HeadlineSelector: c.HeadlineSelector, LeadSelector: c.LeadSelector, MaxHeadlines: c.Headlines},
		}
	}
	return digest.TextSource{Path: c.Source, Stdin: sys.stdin}
}
