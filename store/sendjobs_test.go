package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestSendJobChunks: a job over ids 1…2500 in chunks of 1000 is three
// chunks; two senders claim different ones; a chunk whose lease ends is
// taken over; a chunk's stale holder can no longer complete it; the job
// is done only when every chunk is done and no retry waits.
func TestSendJobChunks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	job, created, err := s.CreateSendJob(ctx, ed, 2400, 2500, 1000, time.Hour, now)
	if err != nil || !created || job.Chunks != 3 || job.State != digest.SendQueued {
		t.Fatalf("create: %+v %v %v", job, created, err)
	}
	if from, to := job.ChunkIDs(2); from != 2001 || to != 2501 {
		t.Errorf("chunk 2 covers %d…%d, want 2001…2501", from, to)
	}
	if pending, _ := s.PendingSendJobs(ctx); len(pending) != 1 || pending[0] != ed {
		t.Errorf("pending jobs: %v", pending)
	}
	// Claiming needs a running job.
	if _, _, _, err := s.ClaimChunk(ctx, ed, "a", 0, now, time.Second); !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("claim on a queued job: %v", err)
	}
	epoch, ok, err := s.JoinSendJob(ctx, ed, now)
	if err != nil || !ok || epoch != 0 {
		t.Fatalf("join: %d %v %v", epoch, ok, err)
	}
	a0, ok, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Second)
	b0, ok2, _, _ := s.ClaimChunk(ctx, ed, "b", epoch, now, time.Second)
	if !ok || !ok2 || a0 == b0 {
		t.Fatalf("two senders got chunks %d and %d", a0, b0)
	}
	// Claiming again (a retried script) gives a its own chunk back.
	if again, _, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Second); again != a0 {
		t.Errorf("a claimed again and got %d, not its %d", again, a0)
	}
	c2, ok, _, _ := s.ClaimChunk(ctx, ed, "c", epoch, now, time.Second)
	if !ok {
		t.Fatal("the third chunk was not handed out")
	}
	// All three held: d waits for the first lease to end.
	_, ok, wait, err := s.ClaimChunk(ctx, ed, "d", epoch, now, time.Second)
	if ok || err != nil || !wait.Equal(now.Add(time.Second)) {
		t.Fatalf("a fourth claim: ok %v wait %v err %v", ok, wait, err)
	}
	// a keeps its lease; b's ends (b died): d takes b's chunk over.
	later := now.Add(1500 * time.Millisecond)
	if held, _ := s.RenewChunk(ctx, ed, "a", a0, now.Add(900*time.Millisecond), time.Second); !held {
		t.Fatal("a could not renew its lease")
	}
	if held, _ := s.RenewChunk(ctx, ed, "c", c2, now.Add(900*time.Millisecond), time.Second); !held {
		t.Fatal("c could not renew its lease")
	}
	took, ok, _, _ := s.ClaimChunk(ctx, ed, "d", epoch, later, time.Second)
	if !ok || took != b0 {
		t.Fatalf("after b's lease ended d got %d (%v), want b's %d", took, ok, b0)
	}
	if err := s.CompleteChunk(ctx, ed, "b", epoch, b0, later); !errors.Is(err, store.ErrNotHolder) {
		t.Errorf("b completed a chunk taken over: %v", err)
	}
	for _, h := range []struct {
		who string
		c   int64
	}{{"a", a0}, {"d", b0}} {
		if err := s.CompleteChunk(ctx, ed, h.who, epoch, h.c, later); err != nil {
			t.Fatalf("%s completes %d: %v", h.who, h.c, err)
		}
	}
	// A retry waits: not done yet, even once c's chunk is.
	if _, err := s.ScheduleRetry(ctx, ed, 2100, later, time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteChunk(ctx, ed, "c", epoch, c2, later); err != nil {
		t.Fatal(err)
	}
	// Every chunk done: nothing to claim, and no lease to wait for (the
	// zero time, as ClaimChunk says).
	if _, ok, wait, err := s.ClaimChunk(ctx, ed, "e", epoch, later, time.Second); ok || err != nil || !wait.IsZero() {
		t.Fatalf("a claim with every chunk done: ok %v wait %v err %v; want none and no wait", ok, wait, err)
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch, later); done || err != nil {
		t.Fatalf("finished with a retry waiting: %v %v", done, err)
	}
	// The retry, once due, goes to one sender only, for the lease.
	due := later.Add(2 * time.Second)
	ids, _, _ := s.ClaimRetries(ctx, ed, due, time.Second, 10)
	other, _, _ := s.ClaimRetries(ctx, ed, due, time.Second, 10)
	if len(ids) != 1 || ids[0] != 2100 || len(other) != 0 {
		t.Fatalf("retry claims: %v then %v", ids, other)
	}
	if again, _, _ := s.ClaimRetries(ctx, ed, due.Add(1500*time.Millisecond), time.Second, 10); len(again) != 1 {
		t.Errorf("a retry whose sender died is not due again after the lease: %v", again)
	}
	if err := s.RecordSend(ctx, ed, 2100, "sent", due); err != nil {
		t.Fatal(err)
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch, due); !done || err != nil {
		t.Fatalf("not finished with every chunk done and no retry: %v %v", done, err)
	}
	job, _ = s.SendJob(ctx, ed)
	if job.State != digest.SendDone || job.ChunksDone != 3 || job.Sent != 1 {
		t.Errorf("job: %+v", job)
	}
	if pending, _ := s.PendingSendJobs(ctx); len(pending) != 0 {
		t.Errorf("a done job is still pending: %v", pending)
	}
}

// TestSendJobPauseFreesChunks: a pause starts a new epoch, so the old
// holders' claims and completions are refused, and the resumed job's
// chunks are free at once.
func TestSendJobPauseFreesChunks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-28"
	s.CreateSendJob(ctx, ed, 100, 100, 50, time.Hour, now)
	epoch, _, _ := s.JoinSendJob(ctx, ed, now)
	c, _, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Minute)
	if ok, _ := s.SetSendState(ctx, ed, digest.SendPaused, "test", now, digest.SendRunning); !ok {
		t.Fatal("not paused")
	}
	if _, _, _, err := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Minute); !errors.Is(err, store.ErrNotHolder) {
		t.Errorf("claim on a paused job: %v", err)
	}
	s.SetSendState(ctx, ed, digest.SendQueued, "", now, digest.SendPaused)
	epoch2, ok, _ := s.JoinSendJob(ctx, ed, now)
	if !ok || epoch2 == epoch {
		t.Fatalf("resumed at epoch %d (was %d)", epoch2, epoch)
	}
	if err := s.CompleteChunk(ctx, ed, "a", epoch, c, now); !errors.Is(err, store.ErrNotHolder) {
		t.Errorf("a stale run completed a chunk: %v", err)
	}
	got, ok, _, _ := s.ClaimChunk(ctx, ed, "b", epoch2, now, time.Minute)
	if !ok || got != c {
		t.Errorf("after resuming, b got chunk %d (%v), want the freed %d at once", got, ok, c)
	}
}

// TestSendJobReopen: resending the failed clears them; a catch-up adds
// the newcomers to the total and covers the new ids; neither touches the
// delivered.
func TestSendJobReopen(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-29"
	s.CreateSendJob(ctx, ed, 2, 2, 1000, time.Hour, now)
	epoch, _, _ := s.JoinSendJob(ctx, ed, now)
	c, _, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Minute)
	s.RecordSend(ctx, ed, 1, "sent", now)
	s.RecordSend(ctx, ed, 2, "failed", now)
	s.CompleteChunk(ctx, ed, "a", epoch, c, now)
	if done, _ := s.FinishSendJob(ctx, ed, epoch, now); !done {
		t.Fatal("not done")
	}
	if err := s.CatchUpSendJob(ctx, ed, 1500, 3, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	job, _ := s.SendJob(ctx, ed)
	if job.State != digest.SendQueued || job.Total != 5 || job.CatchUp != 3 || job.Chunks != 2 || job.MaxID != 1500 || job.Failed != 1 {
		t.Fatalf("after a catch-up: %+v", job)
	}
	delivered, failed, _ := s.Handled(ctx, ed, 1, 3)
	if !delivered(1) || !failed(2) {
		t.Error("a catch-up changed the ledger")
	}
	s.SetSendState(ctx, ed, digest.SendCancelled, "test", now, digest.SendQueued)
	if err := s.ResendFailed(ctx, ed, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	job, _ = s.SendJob(ctx, ed)
	delivered, failed, _ = s.Handled(ctx, ed, 1, 3)
	if job.State != digest.SendQueued || job.Failed != 0 || !delivered(1) || failed(2) {
		t.Errorf("after resend-failed: %+v, delivered(1) %v failed(2) %v", job, delivered(1), failed(2))
	}
}

// TestPaceSendIsShared: two stores on one Redis share one pace — the
// second message of either waits for the first's interval, and no longer.
func TestPaceSendIsShared(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	a, b := store.New(rdb, store.Options{Prefix: prefix}), store.New(rdb, store.Options{Prefix: prefix})
	start := time.Now()
	const rate = 20.0 // one per 50 ms
	for _, s := range []*store.Store{a, b, a, b, a, b} {
		if err := s.PaceSend(ctx, rate, 1); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 240*time.Millisecond || took > 3*time.Second {
		t.Errorf("6 messages at 20/s in %v: not paced, or paced far slower (want about 250 ms)", took)
	}
}
