package main

import (
	"errors"
	"flag"
	"fmt"
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
}

// envFlags is a command's flags, whose defaults come from BROADSHEET_*
// variables.
type envFlags struct {
	fs       *flag.FlagSet
	synopsis string
	getenv   func(string) string
	errs     []string
}

// newFlags returns the flags of cmd. Parse errors are reported once, by
// parseFlags; --help prints the usage to stdout.
func newFlags(cmd, synopsis string, getenv func(string) string) *envFlags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &envFlags{fs: fs, synopsis: synopsis, getenv: getenv}
}

func (f *envFlags) string(p *string, name, def, help string) {
	f.fs.StringVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a string")
}

func (f *envFlags) int(p *int, name string, def int, help string) {
	f.fs.IntVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a whole number")
}

func (f *envFlags) bool(p *bool, name string, def bool, help string) {
	f.fs.BoolVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "true or false")
}

func (f *envFlags) float(p *float64, name string, def float64, help string) {
	f.fs.Float64Var(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a number")
}

func (f *envFlags) duration(p *time.Duration, name string, def time.Duration, help string) {
	f.fs.DurationVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a duration like 6h or 90m")
}

// fromEnv sets flag name from its BROADSHEET_* variable, when set, with the
// parser the command line uses (so a flag given later wins, and both are
// checked alike after parsing); kind names what the value must be.
func (f *envFlags) fromEnv(name, kind string) {
	env := envName(name)
	if v := f.getenv(env); v != "" {
		if err := f.fs.Set(name, v); err != nil {
			f.errs = append(f.errs, fmt.Sprintf("$%s=%q is not %s", env, v, kind))
		}
	}
}

func envName(flagName string) string {
	return "BROADSHEET_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// storeFlags registers what every command that opens the store needs.
func (c *config) storeFlags(f *envFlags) {
	f.string(&c.DataDir, "data-dir", "./data", "directory for the private Redis and the mail outbox")
	f.string(&c.RedisURL, "redis-url", "", "Redis URL (redis://, rediss://, unix://; ?addr=… for Cluster, ?master_name=… for Sentinel); empty starts a private redis-server under the data dir")
	f.string(&c.RedisPrefix, "redis-prefix", store.DefaultPrefix, "prefix of every Redis key")
	f.int(&c.KeepEditions, "keep-editions", store.DefaultKeepEditions, "editions kept in Redis; older ones are deleted")
	f.int(&c.RedisWaitReplicas, "redis-wait-replicas", -1, "replicas that must acknowledge each delivery and subscriber write (WAIT) so a failover loses none; -1: 1 when every master has a replica at start, else 0")
	f.string(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// siteFlags registers what every command that publishes needs.
func (c *config) siteFlags(f *envFlags) {
	f.string(&c.BaseURL, "base-url", "", "public URL of the site (default http://LISTEN/)")
	f.string(&c.Source, "source", "", "front page to read: a text file, - for standard input, or an http(s) URL of an HTML front page or a feed (default: the bundled sample)")
	f.string(&c.HeadlineSelector, "headline-selector", digest.DefaultHeadlineSelector, "CSS selector of the headline links on an HTML front page")
	f.string(&c.LeadSelector, "lead-selector", "", "CSS selector of the link to the lead article (default: the first headline)")
	f.int(&c.Headlines, "headlines", digest.DefaultMaxHeadlines, "headlines kept from a web source")
	f.int(&c.SourceRetries, "source-retries", 3, "times a web source answering 5xx or 429, or timing out, is tried again (backoff 1s, 2s, 4s…, or its Retry-After)")
	f.bool(&c.SourceAllowPrivate, "source-allow-private", false, "let a web source live at a private, loopback or link-local address (intranet sources, tests)")
	f.string(&c.Timezone, "timezone", "UTC", "time zone that decides an edition's day, e.g. Europe/Paris")
	f.string(&c.Title, "title", "Daily Brief", "the publication's name")
	f.string(&c.Listen, "listen", "localhost:8080", "address to serve HTTP on")
}

// mailFlags registers what every command that mails or manages
// subscribers needs.
func (c *config) mailFlags(f *envFlags) {
	f.string(&c.From, "from", "Daily Brief <news@localhost.localdomain>", "sender of every mail, e.g. \"Daily Brief <news@example.com>\"")
	c.DKIM.flags(f)
	f.string(&c.Frequency, "frequency", "once a day", `how often editions are mailed, as the confirmation mail says it ("It comes by email once a day")`)
	f.string(&c.ConsentText, "consent-version", "1", "version of the consent text the subscribe form shows, recorded with each subscription")
	f.string(&c.BounceAddress, "bounce-address", "", "address reports come back to, e.g. bounces@news.example.com: every mail's envelope sender becomes bounces+TAG@… naming its subscriber (VERP), and List-Unsubscribe gets a per-subscriber mailto:; empty: no mailto: and the From address as envelope sender")
	f.string(&c.UnsubscribeMailbox, "unsubscribe-mailbox", "", `with --bounce-address, the address whose +TAG variants List-Unsubscribe's mailto: names (default unsubscribe@ the bounce domain; "-" for no mailto:)`)
}

// sendFlags registers what the commands that mail editions need (serve,
// send, preview).
func (c *config) sendFlags(f *envFlags) {
	c.Mail.flags(f)
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
	if strings.ContainsAny(c.Title, "\r\n") {
		return usageErrorf("--title must be one line")
	}
	if f := c.Frequency; f != "" && (strings.TrimSpace(f) == "" || len(f) > 100 || strings.ContainsAny(f, "\r\n")) {
		return usageErrorf("--frequency must be one line of at most 100 bytes, such as \"once a day\"")
	}
	return nil
}

// validateSending checks the settings of sendFlags.
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

// parseFlags parses args. --help prints the usage to stdout and returns
// flag.ErrHelp; a bad flag is a usage error.
func parseFlags(f *envFlags, args []string, stdout io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprintf(stdout, "Usage: broadsheet %s %s\n\nFlags:\n", f.fs.Name(), f.synopsis)
			f.fs.SetOutput(stdout)
			f.fs.PrintDefaults()
			return err
		}
		return usageErrorf("%s: %v (see broadsheet %s --help)", f.fs.Name(), err, f.fs.Name())
	}
	if len(f.errs) > 0 {
		return usageErrorf("%s", strings.Join(f.errs, "; "))
	}
	return nil
}
