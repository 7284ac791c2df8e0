package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/logs"
	"github.com/broadsheet-news/broadsheet/spool"
	"github.com/broadsheet-news/broadsheet/store"
)

// config is broadsheet's configuration: flags, each with a BROADSHEET_*
// environment variable. The flag wins.
type config struct {
	Listen      string
	BaseURL     string
	DataDir     string
	RedisURL    string
	RedisPrefix string
	Source      string
	// Web sources.
	HeadlineSelector   string
	LeadSelector       string
	Headlines          int
	SourceAllowPrivate bool
	SourceRetries      int
	Timezone           string
	Schedule           string
	CatchUp            time.Duration
	Title              string
	KeepEditions       int
	RedisWaitReplicas  int
	LogLevel           string
	// Mail and subscriptions.
	Mail             mailSettings
	SMTPConnections  int
	SendRate         float64
	RetryFor         time.Duration
	SendLease        time.Duration
	BounceBreaker    string
	bounceBreaker    float64 // BounceBreaker as a share, by validateSending
	From             string
	SubscribeRate    int
	TrustProxy       string
	SubscribeOrigins string
	ConsentText      string
	Frequency        string
	DKIM             dkimSettings
	// Reports that come back (feedback/).
	BounceAddress      string
	UnsubscribeMailbox string
	SoftBounceLimit    string
	InboundListen      string
	InboundTLSCert     string
	InboundTLSKey      string
	WebSubHub          string
	WelcomeEdition     bool
	// Secrets: from the environment (or a *_FILE it names) only.
	SMTPURL    string
	Secrets    []string
	AdminToken string
	// BounceMailbox is the IMAP mailbox polled for reports
	// (imaps://user:pass@host/INBOX).
	BounceMailbox string
	Webhooks      webhookSecrets

	// Resolved by validate.
	baseURL  *url.URL
	location *time.Location
	// readerSpool, set by serve, keeps reader actions while Redis is away.
	readerSpool *spool.Spool
	schedule    cron.Schedule // nil: "off"
}

// The headings shared flags are listed under in --help, by what uses them.
const (
	sectionStore   = "Store flags (every command)"
	sectionLinks   = "Site flags (links in pages and mails)"
	sectionEdition = "Edition flags (build, serve)"
	sectionMail    = "Mail flags (commands that mail)"
	sectionDigest  = "Edition mail flags (serve, send, preview)"
	sectionSending = "Sending flags (serve, send)"
)

// newConfig returns the configuration at its defaults: a command
// registers only the flags it uses, and the rest keep these.
func newConfig() config {
	var c config
	f := newFlags("defaults", "", func(string) string { return "" })
	c.storeFlags(f)
	c.linkFlags(f)
	c.editionFlags(f)
	c.mailFlags(f)
	c.digestFlags(f)
	c.sendingFlags(f)
	return c
}

// storeFlags registers what every command needs: the store and the log.
func (c *config) storeFlags(f *envFlags) {
	f.section(sectionStore)
	f.string(&c.DataDir, "data-dir", "./data", "directory for the private Redis and the mail outbox")
	f.string(&c.RedisURL, "redis-url", "", "Redis URL (redis://, rediss://, unix://; ?addr=… for Cluster, ?master_name=… for Sentinel); empty starts a private redis-server under the data dir")
	f.string(&c.RedisPrefix, "redis-prefix", store.DefaultPrefix, "prefix of every Redis key")
	f.int(&c.RedisWaitReplicas, "redis-wait-replicas", -1, "replicas that must acknowledge each delivery and subscriber write (WAIT) so a failover loses none; -1: 1 when every master has a replica at start, else 0")
	f.string(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// linkFlags registers what makes the site's links, in pages and mails.
func (c *config) linkFlags(f *envFlags) {
	f.section(sectionLinks)
	f.string(&c.BaseURL, "base-url", "", "public URL of the site (default http://LISTEN/)")
	f.string(&c.Listen, "listen", "localhost:8080", "address to serve HTTP on (and of the default --base-url)")
	f.string(&c.Title, "title", "Daily Brief", "the publication's name")
}

// editionFlags registers what builds editions (build, serve).
func (c *config) editionFlags(f *envFlags) {
	f.section(sectionEdition)
	f.string(&c.Source, "source", "", "front page to read: a text file, - for standard input, or an http(s) URL of an HTML front page or a feed (default: the bundled sample)")
	f.string(&c.HeadlineSelector, "headline-selector", digest.DefaultHeadlineSelector, "CSS selector of the headline links on an HTML front page")
	f.string(&c.LeadSelector, "lead-selector", "", "CSS selector of the link to the lead article (default: the first headline)")
	f.int(&c.Headlines, "headlines", digest.DefaultMaxHeadlines, "headlines kept from a web source")
	f.int(&c.SourceRetries, "source-retries", 3, "times a web source answering 5xx or 429, or timing out, is tried again (backoff 1s, 2s, 4s…, or its Retry-After)")
	f.bool(&c.SourceAllowPrivate, "source-allow-private", false, "let a web source live at a private, loopback or link-local address (intranet sources, tests)")
	f.string(&c.Timezone, "timezone", "UTC", "time zone that decides an edition's day, e.g. Europe/Paris")
	f.string(&c.Schedule, "schedule", "0 6 * * *", `cron spec (in --timezone) of the daily run: serve builds today's edition and sends it then, and an edition is dated at its day's run; "off" leaves it to an external cron running "broadsheet build" and "broadsheet send"`)
	f.int(&c.KeepEditions, "keep-editions", store.DefaultKeepEditions, "editions kept in Redis; older ones are deleted")
}

// mailFlags registers what every command that mails needs.
func (c *config) mailFlags(f *envFlags) {
	f.section(sectionMail)
	f.string(&c.From, "from", "Daily Brief <news@localhost.localdomain>", "sender of every mail, e.g. \"Daily Brief <news@example.com>\"")
	c.DKIM.flags(f)
	f.string(&c.Frequency, "frequency", "once a day", `how often editions are mailed, as the confirmation mail says it ("It comes by email once a day")`)
	f.string(&c.BounceAddress, "bounce-address", "", "address reports come back to, e.g. bounces@news.example.com: every mail's envelope sender becomes bounces+TAG@… naming its subscriber (VERP), and List-Unsubscribe gets a per-subscriber mailto:; empty: no mailto: and the From address as envelope sender")
	f.string(&c.UnsubscribeMailbox, "unsubscribe-mailbox", "", `with --bounce-address, the address whose +TAG variants List-Unsubscribe's mailto: names (default unsubscribe@ the bounce domain; "-" for no mailto:)`)
}

// digestFlags registers the edition mail's settings (serve, send,
// preview).
func (c *config) digestFlags(f *envFlags) {
	f.section(sectionDigest)
	c.Mail.flags(f)
}

// sendingFlags registers how editions are sent (serve, send).
func (c *config) sendingFlags(f *envFlags) {
	f.section(sectionSending)
	f.int(&c.SMTPConnections, "smtp-connections", 10, "SMTP connections sending an edition at once")
	f.float(&c.SendRate, "send-rate", 0, "messages per second at most, over all connections (0: no limit)")
	f.duration(&c.RetryFor, "retry-for", 6*time.Hour, "how long a message refused for now (4xx, network) is tried again")
	f.string(&c.BounceBreaker, "bounce-breaker", "20%", "pause a send when more than this share of the last 200 recipients tried were refused permanently (a relay refusing everyone), and bounce none of them")
	f.duration(&c.SendLease, "send-lease", 15*time.Second, "a sender's hold on a send job, renewed while it lives: after a crash, another instance takes the job over within this plus 5s (at most 25s)")
}

// minAdminToken is the shortest admin token accepted, in bytes.
const minAdminToken = 16

// secretsFromEnv reads the settings that hold secrets. They come only from
// the environment — NAME, or a file named by NAME_FILE — never from flags,
// which other users of the machine can read in the process list.
func (c *config) secretsFromEnv(getenv func(string) string) error {
	read := func(name string) (string, error) {
		if path := getenv(name + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", usageErrorf("$%s_FILE: %v", name, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		return getenv(name), nil
	}
	var err error
	if c.SMTPURL, err = read("BROADSHEET_SMTP_URL"); err != nil {
		return err
	}
	if c.AdminToken, err = read("BROADSHEET_ADMIN_TOKEN"); err != nil {
		return err
	}
	if c.AdminToken != "" && len(c.AdminToken) < minAdminToken {
		return usageErrorf("$BROADSHEET_ADMIN_TOKEN is %d bytes; it must be at least %d (make one with: openssl rand -hex 32)",
			len(c.AdminToken), minAdminToken)
	}
	if c.BounceMailbox, err = read("BROADSHEET_BOUNCE_MAILBOX"); err != nil {
		return err
	}
	if err := c.Webhooks.fromEnv(read); err != nil {
		return err
	}
	secret, err := read("BROADSHEET_SECRET")
	if err != nil {
		return err
	}
	c.Secrets = nil
	for _, s := range strings.Split(secret, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Secrets = append(c.Secrets, s)
		}
	}
	return nil
}

// validate checks the configuration and resolves what later code uses.
func (c *config) validate() error {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" || c.Timezone == "Local" {
		return usageErrorf("--timezone %q is not a time zone name such as UTC or Europe/Paris", c.Timezone)
	}
	c.location = loc
	if c.schedule, err = parseSchedule(c.Schedule); err != nil {
		return err
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + defaultHost(c.Listen) + "/"
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return usageErrorf("--base-url %q is not an absolute http or https URL", c.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return usageErrorf("--base-url %q must have no query, fragment or user", c.BaseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c.baseURL = u
	if strings.TrimSpace(c.Title) == "" {
		return usageErrorf("--title must not be empty")
	}
	if isWebSource(c.Source) {
		if u, err := url.Parse(c.Source); err != nil || u.Host == "" {
			return usageErrorf("--source %q is not a valid URL", c.Source)
		}
		for _, sel := range []string{c.HeadlineSelector, c.LeadSelector} {
			if sel != "" {
				if err := digest.CheckSelector(sel); err != nil {
					return usageErrorf("%v", err)
				}
			}
		}
		if c.Headlines < 1 {
			return usageErrorf("--headlines must be at least 1")
		}
		if c.SourceRetries < 0 {
			return usageErrorf("--source-retries must not be negative")
		}
	}
	if c.KeepEditions < 1 {
		return usageErrorf("--keep-editions must be at least 1")
	}
	if c.RedisWaitReplicas < -1 {
		return usageErrorf("--redis-wait-replicas must be -1 (automatic), 0 or more")
	}
	if c.WebSubHub != "" {
		if u, err := url.Parse(c.WebSubHub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--websub-hub %q is not an absolute http or https URL", c.WebSubHub)
		}
	}
	if strings.ContainsAny(c.Title, "\r\n") {
		return usageErrorf("--title must be one line")
	}
	if f := c.Frequency; f != "" && (strings.TrimSpace(f) == "" || len(f) > 100 || strings.ContainsAny(f, "\r\n")) {
		return usageErrorf("--frequency must be one line of at most 100 bytes, such as \"once a day\"")
	}
	return nil
}

// validateSending checks the settings of sendingFlags.
func (c *config) validateSending() error {
	if c.SMTPConnections < 1 || c.SMTPConnections > 1000 {
		return usageErrorf("--smtp-connections must be from 1 to 1000")
	}
	if c.SendRate < 0 || c.RetryFor <= 0 {
		return usageErrorf("--send-rate must not be negative and --retry-for must be positive")
	}
	if c.SendLease < time.Second || c.SendLease > 25*time.Second {
		return usageErrorf("--send-lease must be from 1s to 25s (a job left by a crash is taken over within the lease plus 5s)")
	}
	share, err := parsePercent(c.BounceBreaker)
	if err != nil {
		return usageErrorf("--bounce-breaker %q is not a percentage from 1%% to 100%%, such as 20%%", c.BounceBreaker)
	}
	c.bounceBreaker = share
	return nil
}

// parsePercent reads "20%" (or "20") as 0.2; it must be from 1% to 100%.
func parsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v < 1 || v > 100 {
		return 0, errors.New("not a percentage from 1% to 100%")
	}
	return v / 100, nil
}

// defaultHost turns a listen address into the host of the default base
// URL: ":8080" and "0.0.0.0:8080" become "localhost:8080".
func defaultHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// parseSchedule checks a cron spec ("off" disables the schedule). CRON_TZ=
// and TZ= prefixes are refused: robfig/cron panics on a bad one, and the
// zone is --timezone's job.
func parseSchedule(spec string) (cron.Schedule, error) {
	if spec == "off" {
		return nil, nil
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, usageErrorf("--schedule %q: set the zone with --timezone, not TZ= or CRON_TZ=", spec)
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, usageErrorf("--schedule %q is not a cron spec like \"0 6 * * *\" (or \"off\"): %v", spec, err)
	}
	return s, nil
}

func isWebSource(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func (c *config) logger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, usageErrorf("--log-level %q is not one of debug, info, warn, error", c.LogLevel)
	}
	// No address in any line above debug level.
	return slog.New(logs.Redact(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))), nil
}
