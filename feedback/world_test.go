package feedback_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

const testSecret = "a-test-signing-secret-0123456789"

// world is the list on real Redis, mailing editions through a real SMTP
// server with VERP return paths, and the inbound listener on a real port.
type world struct {
	rdb      redis.UniversalClient
	store    *store.Store
	subs     *subscription.Service
	signer   *subscription.Signer
	addrs    *feedback.Addresses
	svc      *feedback.Service
	outbound *smtptest.Server
	inbound  string // the listener's address
	logs     *syncBuffer
	metrics  *countingObserver
	emails   []string // subscriber i's address; ids are i+1
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingObserver) Feedback(kind, source string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[kind+"/"+source]++
}

func (c *countingObserver) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func newWorld(t testing.TB, subscribers int) *world {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, store.Options{Prefix: prefix})
	w := &world{rdb: rdb, store: st, logs: &syncBuffer{}, metrics: &countingObserver{n: map[string]int{}}}
	var subs []digest.Subscriber
	for i := range subscribers {
		email := fmt.Sprintf("reader%d@example.org", i)
		w.emails = append(w.emails, email)
		subs = append(subs, digest.Subscriber{Email: email, Status: digest.Active, Format: digest.FormatHTML,
			Consent: digest.Consent{Source: "import", SubscribedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}})
	}
	if _, err := st.ImportSubscribers(ctx, subs); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.signer, err = subscription.NewSigner([]string{testSecret}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(w.logs, nil))
	base, _ := url.Parse("https://news.example.com/")
	w.subs = subscription.New(st, nil, w.signer, subscription.Config{Title: "Test", BaseURL: base}, time.Now, logger)
	if w.addrs, err = feedback.NewAddresses("bounces@news.example.com", "", w.signer, nil); err != nil {
		t.Fatal(err)
	}
	w.svc = feedback.NewService(st, w.subs, feedback.Config{Addresses: w.addrs, Tags: w.signer, Observer: w.metrics, Logger: logger})
	w.outbound = smtptest.Start(t)

	l := feedback.NewListener(w.svc, feedback.ListenerConfig{Domain: "mx.news.example.com", Logger: logger, Timeout: 10 * time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.inbound = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return w
}

// sendEdition sends the edition of day to every active subscriber through
// the real engine and returns each recipient's message: envelope sender
// and List-Unsubscribe mailto: address.
func (w *world) sendEdition(t *testing.T, day string) map[string]sentMail {
	t.Helper()
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	e, err := digest.Build(day, page)
	if err != nil {
		t.Fatal(err)
	}
	smtpOut, err := mailer.NewSMTP(w.outbound.URL(), mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	composer, _ := mailer.NewComposer("Test <news@example.com>", time.Now)
	mails, err := templates.NewEditionMail(templates.EditionMailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.com/")
	cfg := mailer.DigestConfig{Site: templates.MailSite{Title: "Test", Base: base, PostalAddress: "1 Test Street"},
		MessageIDKey: []byte("k"), ReturnPaths: w.addrs}
	en := mailer.NewEngine(w.store, w.store, w.subs, smtpOut,
		func(e digest.Edition) (*mailer.Digest, error) { return mailer.NewDigest(composer, mails, e, cfg) },
		mailer.EngineOptions{Owner: "test", Connections: 2, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := len(w.outbound.Messages())
	if _, err := en.StartJob(ctx, e, false); err != nil {
		t.Fatal(err)
	}
	job, err := en.Run(ctx, e)
	if err != nil || job.State != digest.SendDone {
		t.Fatalf("send %s: %+v %v", day, job, err)
	}
	out := map[string]sentMail{}
	for _, m := range w.outbound.Messages()[before:] {
		lu := m.Parsed(t).Header.Get("List-Unsubscribe")
		mailto := regexp.MustCompile(`<mailto:([^?>]+)\?subject=unsubscribe>`).FindStringSubmatch(lu)
		if mailto == nil {
			t.Fatalf("List-Unsubscribe %q has no mailto:", lu)
		}
		out[m.To[0]] = sentMail{returnPath: m.From, unsubscribe: mailto[1], data: m.Data}
	}
	return out
}

type sentMail struct {
	returnPath, unsubscribe string
	data                    []byte
}

// deliver sends msg to the listener for rcpt, as a receiving MTA would.
func (w *world) deliver(t *testing.T, rcpt string, msg []byte) error {
	t.Helper()
	c, err := smtp.Dial(w.inbound)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("", []string{rcpt}, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func (w *world) status(t *testing.T, i int) digest.SubscriberStatus {
	t.Helper()
	sub, err := w.store.Subscriber(context.Background(), int64(i+1))
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status
}

// checkOnly fails unless subscriber i has status want and every other one
// is still active.
func (w *world) checkOnly(t *testing.T, i int, want digest.SubscriberStatus) {
	t.Helper()
	for j := range w.emails {
		got, exp := w.status(t, j), digest.Active
		if j == i {
			exp = want
		}
		if got != exp {
			t.Errorf("subscriber %d (%s) is %s, want %s", j, w.emails[j], got, exp)
		}
	}
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dsnFor is the RFC 3464 C.2 example reporting a failure for email, sent
// to returnPath, with status ("5.0.0" hard, "4.0.0" soft).
func dsnFor(t testing.TB, returnPath, email, status string) []byte {
	msg := strings.NewReplacer(
		"owner-ups-mib@CS.UTK.EDU", returnPath,
		"wsnell@sdcc13.ucsd.edu", email,
		"arathib@vnet.ibm.com", email,
		"Status: 5.0.0", "Status: "+status,
	).Replace(fixture(t, "rfc3464-c2-user-unknown.eml"))
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}

// arfFor is the RFC 5965 B.1 example about the mail sent to email with
// returnPath, addressed to the listener's bounce address (as a feedback
// loop registered for it sends it).
func arfFor(t testing.TB, returnPath, email string) []byte {
	msg := strings.NewReplacer(
		"Original-Mail-From: <somespammer@example.net>", "Original-Mail-From: <"+returnPath+">",
		"user@example.com", email,
		"To: <abuse@example.net>", "To: <bounces@news.example.com>",
	).Replace(fixture(t, "rfc5965-b1-abuse.eml"))
	return []byte(strings.ReplaceAll(msg, "\n", "\r\n"))
}
