package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/templates"
)

// links signs nothing: the engine only needs URLs.
type links struct{}

func (links) UnsubscribeURL(id int64) string {
	return fmt.Sprintf("https://news.example.com/unsubscribe/u%d", id)
}
func (links) PreferencesURL(id int64) string {
	return fmt.Sprintf("https://news.example.com/preferences/p%d", id)
}

// subscriberAddr is the address of the bench's subscriber i.
func subscriberAddr(i int) string { return fmt.Sprintf("r%04d@example.com", i) }

// bench is an engine on real Redis sending to a real SMTP server.
type bench struct {
	store   *store.Store
	smtp    *smtptest.Server
	edition digest.Edition
	opener  mailer.Opener
	digestF func(digest.Edition) (*mailer.Digest, error)
	cfg     mailer.DigestConfig
}

func newBench(t testing.TB, subscribers int) *bench {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return newBenchOn(t, store.New(rdb, store.Options{Prefix: prefix, WaitReplicas: redistest.Replicas()}), subscribers)
}

func newBenchOn(t testing.TB, st *store.Store, subscribers int) *bench {
	t.Helper()
	ctx := context.Background()
	var subs []digest.Subscriber
	for i := range subscribers {
		subs = append(subs, digest.Subscriber{Email: subscriberAddr(i), Name: fmt.Sprintf("Reader %d", i),
			Status: digest.Active, Format: digest.FormatHTML})
	}
	if _, err := st.ImportSubscribers(ctx, subs); err != nil {
		t.Fatal(err)
	}
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := digest.Build("2026-11-27", page)
	mail := smtptest.Start(t)
	smtp, err := mailer.NewSMTP(mail.URL(), mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	composer, _ := mailer.NewComposer("Test <news@example.com>", time.Now)
	mails, err := templates.NewEditionMail(templates.EditionMailOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.com/")
	cfg := mailer.DigestConfig{Site: templates.MailSite{Title: "Test", Base: base, PostalAddress: "1 Test Street"}, MessageIDKey: []byte("k")}
	b := &bench{store: st, smtp: mail, edition: e, opener: smtp, cfg: cfg}
	b.digestF = func(e digest.Edition) (*mailer.Digest, error) { return mailer.NewDigest(composer, mails, e, b.cfg) }
	return b
}

// dkim makes the bench's digests signed with k.
func (b *bench) dkim(k *mailer.DKIM) { b.cfg.DKIM = k }

func (b *bench) engine(owner string, opts mailer.EngineOptions) *mailer.Engine {
	opts.Owner = owner
	if opts.RetryBase == 0 {
		opts.RetryBase, opts.RetryMax = 5*time.Millisecond, 40*time.Millisecond
	}
	if opts.Lease == 0 {
		opts.Lease = time.Second
	}
	if opts.Connections == 0 {
		opts.Connections = 4
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return mailer.NewEngine(b.store, b.store, links{}, b.opener, b.digestF, opts)
}

func (b *bench) send(t *testing.T, en *mailer.Engine) digest.SendJob {
	t.Helper()
	// A ceiling for a loaded machine (the whole suite under -race), not
	// a speed check: a run cut short shows as a job still running.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	job, err := en.Run(ctx, b.edition)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// checkOnce fails unless each of the first n subscribers got exactly one
// message (skipping those in except).
func (b *bench) checkOnce(t *testing.T, n int, except func(i int) bool) {
	t.Helper()
	for i := range n {
		if except != nil && except(i) {
			continue
		}
		if got := b.smtp.Received(subscriberAddr(i)); got != 1 {
			t.Errorf("subscriber %d got %d messages, want 1", i, got)
		}
	}
}

func TestEngineSendsEachSubscriberOnce(t *testing.T) {
	b := newBench(t, 300)
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 300 || job.Total != 300 || job.Failed != 0 {
		t.Fatalf("job: %+v", job)
	}
	b.checkOnce(t, 300, nil)
	// Again: nothing new.
	job = b.send(t, b.engine("a", mailer.EngineOptions{}))
	if len(b.smtp.Messages()) != 300 || job.Sent != 300 {
		t.Errorf("sending again: %d messages, job %+v", len(b.smtp.Messages()), job)
	}
	// Each message is the subscriber's: To and the unsubscribe link.
	for _, m := range b.smtp.Messages()[:5] {
		msg := m.Parsed(t)
		to := msg.Header.Get("To")
		lu := msg.Header.Get("List-Unsubscribe")
		var id int
		fmt.Sscanf(strings.TrimPrefix(strings.Trim(m.To[0], "<>"), "r"), "%04d", &id)
		if !strings.Contains(to, fmt.Sprintf("r%04d@example.com", id)) || !strings.Contains(lu, fmt.Sprintf("/unsubscribe/u%d>", id+1)) {
			t.Errorf("message to %v: To %q, List-Unsubscribe %q", m.To, to, lu)
		}
		if msg.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Error("no List-Unsubscribe-Post")
		}
	}
}

// TestEngineThroughFaults: with 10% of transactions answered 451 and 1%
// of connections dropped, every subscriber still gets exactly one message.
func TestEngineThroughFaults(t *testing.T) {
	b := newBench(t, 500)
	b.smtp.SetFaults(smtptest.Faults{TempFailEvery: 10, DropEvery: 100})
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 500 || job.Failed != 0 {
		t.Fatalf("job: %+v", job)
	}
	b.checkOnce(t, 500, nil)
	if b.smtp.Connections() < 5 {
		t.Errorf("only %d connections: the dropped ones were not reopened?", b.smtp.Connections())
	}
}

func TestEngineBounces(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 100)
	b.smtp.RefuseRecipients(func(to string) error {
		var i int
		fmt.Sscanf(strings.TrimPrefix(strings.Trim(to, "<>"), "r"), "%04d", &i)
		if i%10 == 0 {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 90 || job.Bounced != 10 || job.Failed != 10 {
		t.Fatalf("job: %+v", job)
	}
	sub, _ := b.store.SubscriberByEmail(ctx, "r0010@example.com")
	if sub.Status != digest.Bounced || sub.Consent.LeftHow != "bounce" {
		t.Errorf("a 550 5.1.1 recipient is %s", sub.Status)
	}
	b.checkOnce(t, 100, func(i int) bool { return i%10 == 0 })
}

// TestEnginePausesOnPolicyBlock: a 5.7.1 block of every recipient trips
// the bounce breaker; resumed, the job finishes with nobody sent twice.
func TestEnginePausesOnPolicyBlock(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 200)
	b.smtp.SetFaults(smtptest.Faults{PolicyBlockAfter: 50})
	job := b.send(t, b.engine("a", mailer.EngineOptions{}))
	if job.State != digest.SendPaused || !strings.Contains(job.Reason, "policy") || !strings.Contains(job.Reason, "5.7.1") {
		t.Fatalf("job after a policy block: %+v", job)
	}
	if job.Sent < 50 || job.Sent >= 200 {
		t.Errorf("sent %d before the pause", job.Sent)
	}
	b.smtp.SetFaults(smtptest.Faults{})
	if ok, err := b.store.SetSendState(ctx, b.edition.ID, digest.SendQueued, "", time.Now(), digest.SendPaused); !ok || err != nil {
		t.Fatalf("resume: %v %v", ok, err)
	}
	job = b.send(t, b.engine("b", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 200 {
		t.Fatalf("after resuming: %+v", job)
	}
	b.checkOnce(t, 200, nil)
}

func TestEnginePausesAfterConsecutiveFailures(t *testing.T) {
	b := newBench(t, 100)
	b.smtp.SetFaults(smtptest.Faults{TempFailEvery: 1})
	job := b.send(t, b.engine("a", mailer.EngineOptions{MaxConsecutiveFailures: 20}))
	if job.State != digest.SendPaused || !strings.Contains(job.Reason, "in a row") {
		t.Fatalf("job: %+v", job)
	}
}

func TestEngineGivesUpAtTheRetryDeadline(t *testing.T) {
	b := newBench(t, 30)
	b.smtp.SetFaults(smtptest.Faults{TempFailEvery: 1})
	job := b.send(t, b.engine("a", mailer.EngineOptions{RetryFor: 300 * time.Millisecond, MaxConsecutiveFailures: 1 << 30}))
	if job.State != digest.SendDone || job.Failed != 30 || job.Sent != 0 || job.Bounced != 0 {
		t.Fatalf("job: %+v", job)
	}
}

// TestEngineResumesAnotherSendersJob: a sender stopped mid-job (its lease
// released, as at shutdown) leaves the job to another, which finishes it;
// only messages in flight may be sent twice.
func TestEngineResumesAnotherSendersJob(t *testing.T) {
	b := newBench(t, 400)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: 2 * time.Millisecond})
	first := b.engine("first", mailer.EngineOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := first.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.smtp.Reached(100, time.Minute)
		cancel()
	}()
	job, err := first.Run(ctx, b.edition)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != digest.SendRunning || job.Sent >= 400 {
		t.Fatalf("after stopping: %+v", job)
	}
	b.smtp.SetFaults(smtptest.Faults{})
	job = b.send(t, b.engine("second", mailer.EngineOptions{}))
	if job.State != digest.SendDone || job.Sent != 400 {
		t.Fatalf("after the second sender: %+v", job)
	}
	dups := b.smtp.Delivered(t, 400, subscriberAddr)
	if dups > 4 {
		t.Errorf("%d duplicates, more than the 4 connections in flight", dups)
	}
}

func TestEngineRefusesAnEmptyEdition(t *testing.T) {
	b := newBench(t, 1)
	_, err := b.engine("a", mailer.EngineOptions{}).StartJob(context.Background(), digest.Edition{ID: "2026-11-27"}, false)
	if !errors.Is(err, digest.ErrEmptyEdition) {
		t.Errorf("an empty edition: %v", err)
	}
}

// TestEngineSurvivesARedisRestart: Redis restarting mid-send (with its
// append-only file) does not lose the job: it goes on, and nobody is lost.
func TestEngineSurvivesARedisRestart(t *testing.T) {
	srv := redistest.StartPersistent(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	b := newBenchOn(t, store.New(rdb, store.Options{}), 600)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: 2 * time.Millisecond})
	en := b.engine("a", mailer.EngineOptions{Lease: 3 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan int, 1)
	go func() {
		b.smtp.Reached(150, time.Minute)
		if err := srv.Restart(200 * time.Millisecond); err != nil {
			t.Error(err)
		}
		restarted <- len(b.smtp.Messages())
	}()
	var job digest.SendJob
	var err error
	// As serve's resumer would: run again if the run stopped short.
	for attempt := 0; attempt < 5 && job.State != digest.SendDone; attempt++ {
		job, err = en.Run(ctx, b.edition)
		if err != nil {
			t.Logf("run %d: %v", attempt, err)
			time.Sleep(time.Second)
		}
	}
	if job.State != digest.SendDone || job.Sent != 600 {
		t.Fatalf("after a Redis restart: %+v", job)
	}
	dups := b.smtp.Delivered(t, 600, subscriberAddr)
	if dups > 4 {
		t.Errorf("%d duplicates after a Redis restart, more than the 4 connections in flight", dups)
	}
	if at := <-restarted; at >= 600 {
		t.Errorf("Redis restarted after the send (at %d messages): the test proves nothing", at)
	} else {
		t.Logf("Redis was back after %d messages; %d duplicates", at, dups)
	}
}

// TestEngineResendFailed: a finished job sends nothing new, unless asked
// to resend the failed — then only those.
func TestEngineResendFailed(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 40)
	b.smtp.RefuseRecipients(func(to string) error {
		if strings.Contains(to, "r003") { // r0030…r0039
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"}
		}
		return nil
	})
	en := b.engine("a", mailer.EngineOptions{RetryFor: 200 * time.Millisecond, MaxConsecutiveFailures: 1 << 30})
	job := b.send(t, en)
	if job.State != digest.SendDone || job.Sent != 30 || job.Failed != 10 {
		t.Fatalf("first send: %+v", job)
	}
	b.smtp.RefuseRecipients(nil)
	if job = b.send(t, en); len(b.smtp.Messages()) != 30 {
		t.Fatalf("sending again sent %d more", len(b.smtp.Messages())-30)
	}
	if _, err := en.StartJob(ctx, b.edition, true); err != nil {
		t.Fatal(err)
	}
	job, err := en.Run(ctx, b.edition)
	if err != nil || job.State != digest.SendDone || job.Sent != 40 || job.Failed != 0 {
		t.Fatalf("resend failed: %+v %v", job, err)
	}
	b.checkOnce(t, 40, nil)
}

// TestEnginePauseStopsARunningSend: an admin pause reaches a running send
// within a quarter of a second; resumed, it finishes with nobody twice.
func TestEnginePauseStopsARunningSend(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 1500)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: 2 * time.Millisecond})
	en := b.engine("a", mailer.EngineOptions{Batch: 100})
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	var atPause int
	go func() {
		b.smtp.Reached(100, time.Minute)
		atPause = len(b.smtp.Messages())
		b.store.SetSendState(ctx, b.edition.ID, digest.SendPaused, "paused by a test", time.Now(), digest.SendRunning)
	}()
	job, err := en.Run(ctx, b.edition)
	if err != nil {
		t.Fatal(err)
	}
	after := len(b.smtp.Messages()) - atPause
	if job.State != digest.SendPaused || after > 600 {
		t.Fatalf("after a pause at %d messages: %d more were sent, job %+v", atPause, after, job)
	}
	b.smtp.SetFaults(smtptest.Faults{})
	b.store.SetSendState(ctx, b.edition.ID, digest.SendQueued, "", time.Now(), digest.SendPaused)
	if job = b.send(t, b.engine("b", mailer.EngineOptions{Batch: 100})); job.State != digest.SendDone || job.Sent != 1500 {
		t.Fatalf("after resuming: %+v", job)
	}
	b.checkOnce(t, 1500, nil)
}

// TestEngineCancelThenResend: cancelling a running send and reopening it
// at once (resend-failed) loses nobody: the old run cannot move the new
// job's cursor.
func TestEngineCancelThenResend(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 600)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: time.Millisecond, TempFailEvery: 7})
	first := b.engine("first", mailer.EngineOptions{Batch: 50})
	if _, err := first.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.Run(ctx, b.edition)
	}()
	b.smtp.WaitFor(t, 150, time.Minute)
	b.store.SetSendState(ctx, b.edition.ID, digest.SendCancelled, "test", time.Now(), digest.SendRunning)
	if _, err := first.StartJob(ctx, b.edition, true); err != nil { // reopen at once
		t.Fatal(err)
	}
	<-done
	b.smtp.SetFaults(smtptest.Faults{})
	job := b.send(t, b.engine("second", mailer.EngineOptions{Batch: 50}))
	if job.State != digest.SendDone {
		t.Fatalf("job: %+v", job)
	}
	b.smtp.Delivered(t, 600, subscriberAddr)
}

// TestEngineSenderRefusalPauses: a permanent refusal that is the sender's
// problem (5.1.8 bad sender address) pauses the job at once; the same
// refusal of every recipient (5.3.4, or no enhanced code) trips the bounce
// breaker. Either way nobody is bounced.
func TestEngineSenderRefusalPauses(t *testing.T) {
	for _, refusal := range []*gosmtp.SMTPError{
		{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 8}, Message: "Sender address rejected"},
		{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "Message too big"},
		{Code: 550, EnhancedCode: gosmtp.NoEnhancedCode, Message: "relay not permitted"},
	} {
		t.Run(refusal.Message, func(t *testing.T) {
			b := newBench(t, 50)
			b.smtp.RefuseRecipients(func(string) error { return refusal })
			job := b.send(t, b.engine("a", mailer.EngineOptions{}))
			if job.State != digest.SendPaused || job.Bounced != 0 {
				t.Errorf("job: %+v", job)
			}
			counts, _ := b.store.CountSubscribers(context.Background())
			if counts[digest.Bounced] != 0 {
				t.Errorf("%d subscribers marked bounced", counts[digest.Bounced])
			}
		})
	}
}

// TestEngineManyBatchesThroughFaults: the cursor moves batch by batch and
// retries are sent between batches.
func TestEngineManyBatchesThroughFaults(t *testing.T) {
	b := newBench(t, 500)
	b.smtp.SetFaults(smtptest.Faults{TempFailEvery: 9, DropEvery: 50})
	job := b.send(t, b.engine("a", mailer.EngineOptions{Batch: 40}))
	if job.State != digest.SendDone || job.Sent != 500 || job.ChunksDone != job.Chunks || job.Chunks != 13 {
		t.Fatalf("job: %+v", job)
	}
	b.checkOnce(t, 500, nil)
}
