package mailer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/store"
)

// instance is one engine of several sharing a send, with its own mail
// server, so that a test sees which instance sent what.
type instance struct {
	en   *mailer.Engine
	mail *smtptest.Server
}

// instances returns n engines on b's store, each sending to a mail server
// of its own (b.smtp is the first one's).
func (b *bench) instances(t testing.TB, n int, opts mailer.EngineOptions) []instance {
	t.Helper()
	out := make([]instance, n)
	for i := range n {
		mail := b.smtp
		if i > 0 {
			mail = smtptest.Start(t)
		}
		opener, err := mailer.NewSMTP(mail.URL(), mailer.SMTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bi := *b
		bi.opener = opener
		out[i] = instance{en: bi.engine(fmt.Sprintf("instance%d", i), opts), mail: mail}
	}
	return out
}

// runAll runs every instance's engine on the job at once (as every serve
// joins a running job) and returns the job once all have returned.
func (b *bench) runAll(t testing.TB, ins []instance) digest.SendJob {
	t.Helper()
	// Generous: under -race on a busy machine a send of thousands is slow.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := ins[0].en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() {
			if _, err := in.en.Run(ctx, b.edition); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	job, err := b.store.SendJob(ctx, b.edition.ID)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// received is how many messages subscriber i got over every instance.
func received(ins []instance, i int) int {
	n := 0
	for _, in := range ins {
		n += in.mail.Received(subscriberAddr(i))
	}
	return n
}

// TestEnginesShareASend: three instances running one job share its
// chunks: each sends a fair part, every subscriber gets exactly one
// message, and the job is done once, by whichever finishes last.
func TestEnginesShareASend(t *testing.T) {
	const subscribers = 600
	b := newBench(t, subscribers)
	// Two connections each and a slow server: a chunk of 20 takes about
	// 400 ms of waiting on the server, several times the CPU it needs
	// even under -race, so that what each instance gets depends on
	// sharing, not on which goroutines a busy CPU runs first.
	ins := b.instances(t, 3, mailer.EngineOptions{Batch: 20, Connections: 2})
	for _, in := range ins {
		in.mail.SetFaults(smtptest.Faults{DataDelay: 40 * time.Millisecond, TempFailEvery: 50})
	}
	job := b.runAll(t, ins)
	if job.State != digest.SendDone || job.Sent != subscribers || job.ChunksDone != 30 || job.Retrying != 0 {
		t.Fatalf("job: %+v", job)
	}
	for i := range subscribers {
		if got := received(ins, i); got != 1 {
			t.Errorf("subscriber %d got %d messages, want 1", i, got)
		}
	}
	// A fair share is a third (10 of the 30 chunks); at least half of
	// that, 5 chunks, each (on a quiet machine each sends 30–36%).
	for i, in := range ins {
		n := len(in.mail.Messages())
		t.Logf("instance %d sent %d of %d", i, n, subscribers)
		if n < subscribers/6 {
			t.Errorf("instance %d sent %d of the %d messages, want at least %d (half a fair share)", i, n, subscribers, subscribers/6)
		}
	}
}

// TestSendRateIsGlobal: three instances with --send-rate 30 send at 30
// messages a second together, not 30 each.
func TestSendRateIsGlobal(t *testing.T) {
	const subscribers, rate = 60, 30.0
	b := newBench(t, subscribers)
	ins := b.instances(t, 3, mailer.EngineOptions{Rate: rate, Pacer: b.store, Batch: 10})
	start := time.Now()
	job := b.runAll(t, ins)
	took := time.Since(start)
	if job.State != digest.SendDone || job.Sent != subscribers {
		t.Fatalf("job: %+v", job)
	}
	// A burst of rate/10 may go at once; the rest are paced. (Each
	// instance alone at 30/s would take a third of this.)
	secs := float64(subscribers-rate/10-1) / rate
	if least := time.Duration(secs * float64(time.Second)); took < least {
		t.Errorf("%d messages at %v/s over 3 instances took %v, want at least %v", subscribers, rate, took, least)
	}
	busy := 0
	for _, in := range ins {
		if len(in.mail.Messages()) > 0 {
			busy++
		}
	}
	t.Logf("took %v; %d instances sent", took, busy)
}

// TestSentinelFailoverMidSend: the master fails over (SENTINEL FAILOVER,
// which does not wait for the replica) while a send goes on. Each ledger
// write waits for the replica, so the ledger holds everyone the mail
// server accepted: the job is done with sent = messages received, nobody
// got two, and resending the failed sends nothing.
func TestSentinelFailoverMidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel group and fails it over: not with -short")
	}
	const subscribers = 3000
	group := redistest.StartSentinel(t)
	rdb := group.Client(t)
	st := store.New(rdb, store.Options{WaitReplicas: 1})
	b := newBenchOn(t, st, subscribers)
	b.smtp.SetFaults(smtptest.Faults{DataDelay: time.Millisecond})
	en := b.engine("a", mailer.EngineOptions{Connections: 8, Lease: 10 * time.Second, Batch: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := en.StartJob(ctx, b.edition, false); err != nil {
		t.Fatal(err)
	}
	failedOver := make(chan int, 1)
	go func() {
		b.smtp.Reached(subscribers/4, 4*time.Minute)
		at := len(b.smtp.Messages())
		if _, err := group.Failover(ctx, 30*time.Second); err != nil {
			t.Error(err)
		}
		failedOver <- at
	}()
	var job digest.SendJob
	var err error
	// As serve's resumer would: run again if the run stopped short.
	for attempt := 0; attempt < 10 && job.State != digest.SendDone; attempt++ {
		job, err = en.Run(ctx, b.edition)
		if err != nil {
			t.Logf("run %d: %v", attempt, err)
			time.Sleep(time.Second)
		}
	}
	at := <-failedOver
	if at >= subscribers {
		t.Fatalf("the failover came after the send (%d messages): the test proves nothing", at)
	}
	got := len(b.smtp.Messages())
	if job.State != digest.SendDone || job.Sent != subscribers || int64(got) != job.Sent {
		t.Fatalf("after a failover at %d messages: %d received, job %+v", at, got, job)
	}
	if dups := b.smtp.Delivered(t, subscribers, subscriberAddr); dups != 0 {
		t.Errorf("%d duplicates across a failover", dups)
	}
	delivered, _, err := st.Handled(ctx, b.edition.ID, 1, subscribers+1)
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= subscribers; id++ {
		if !delivered(id) {
			t.Errorf("subscriber %d got the edition but is not in the ledger", id)
		}
	}
	if _, err := en.StartJob(ctx, b.edition, true); err != nil {
		t.Fatal(err)
	}
	if job, err = en.Run(ctx, b.edition); err != nil || job.State != digest.SendDone {
		t.Fatalf("resend-failed: %+v %v", job, err)
	}
	if n := len(b.smtp.Messages()); n != got {
		t.Errorf("resend-failed after the failover sent %d more", n-got)
	}
	t.Logf("failed over at %d messages", at)
}

// TestEngineCatchUpSendsToNewcomers: sending a done edition again mails
// only the active subscribers who joined since, and says how many; with
// none, it changes nothing and says so (CatchUp 0). An audience with no
// active subscriber makes no job.
func TestEngineCatchUpSendsToNewcomers(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, 50)
	en := b.engine("a", mailer.EngineOptions{Batch: 20})
	if job := b.send(t, en); job.State != digest.SendDone || job.Sent != 50 {
		t.Fatalf("first send: %+v", job)
	}
	var newcomers []digest.Subscriber
	for i := 50; i < 55; i++ {
		newcomers = append(newcomers, digest.Subscriber{Email: subscriberAddr(i), Status: digest.Active, Format: digest.FormatHTML})
	}
	newcomers = append(newcomers, digest.Subscriber{Email: "pending@example.com", Status: digest.Pending, Format: digest.FormatHTML})
	if _, err := b.store.ImportSubscribers(ctx, newcomers); err != nil {
		t.Fatal(err)
	}
	job, err := en.StartJob(ctx, b.edition, false)
	if err != nil || job.State != digest.SendQueued || job.CatchUp != 5 || job.Total != 55 {
		t.Fatalf("catch-up: %+v %v", job, err)
	}
	if job, err = en.Run(ctx, b.edition); err != nil || job.State != digest.SendDone || job.Sent != 55 {
		t.Fatalf("after the catch-up: %+v %v", job, err)
	}
	b.checkOnce(t, 55, nil)
	if n := len(b.smtp.Messages()); n != 55 {
		t.Errorf("%d messages, want 55", n)
	}
	job, err = en.StartJob(ctx, b.edition, false)
	if err != nil || job.State != digest.SendDone || job.CatchUp != 0 {
		t.Fatalf("nobody joined since: %+v %v", job, err)
	}

	empty := newBench(t, 0)
	if _, err := empty.engine("a", mailer.EngineOptions{}).StartJob(ctx, empty.edition, false); !errors.Is(err, digest.ErrNoAudience) {
		t.Errorf("no active subscriber: %v", err)
	}
	if _, err := empty.store.SendJob(ctx, empty.edition.ID); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("a job was made for nobody: %v", err)
	}
}
