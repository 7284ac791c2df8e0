package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestScheduleRetryBacksOff: each failed try of a subscriber is counted
// and queues the next after base, doubling with each try, at most maxWait,
// counted from the failure; base 0 queues it at once without counting;
// the first failure's time is kept.
func TestScheduleRetryBacksOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	const ed = "2026-11-27"
	t0 := time.UnixMilli(1_800_000_000_000)
	if _, _, err := s.CreateSendJob(ctx, ed, 10, 10, 10, time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	// dueAt checks that id 5 is due at exactly due: not a millisecond
	// before (then the next due time is due), and taken then.
	dueAt := func(try int, due time.Time) {
		t.Helper()
		ids, next, err := s.ClaimRetries(ctx, ed, due.Add(-time.Millisecond), time.Minute, 10)
		if err != nil || len(ids) != 0 || !next.Equal(due) {
			t.Fatalf("try %d: a millisecond before it is due: %v, next %v (want %v), %v", try, ids, next, due, err)
		}
		ids, _, err = s.ClaimRetries(ctx, ed, due, time.Minute, 10)
		if err != nil || !slices.Equal(ids, []int64{5}) {
			t.Fatalf("try %d: when due at %v: %v %v", try, due.Sub(t0), ids, err)
		}
	}
	now := t0
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		tries, err := s.ScheduleRetry(ctx, ed, 5, now, time.Second, 5*time.Second)
		if err != nil || tries != i+1 {
			t.Fatalf("failure %d: tries %d, %v", i+1, tries, err)
		}
		dueAt(i+1, now.Add(want))
		now = now.Add(time.Minute)
	}
	tries, err := s.ScheduleRetry(ctx, ed, 5, now, 0, 5*time.Second)
	if err != nil || tries != 0 {
		t.Fatalf("handed on (base 0): tries %d, %v", tries, err)
	}
	dueAt(0, now)
	if tries, _ := s.ScheduleRetry(ctx, ed, 5, now, time.Second, time.Minute); tries != 6 {
		t.Errorf("after a hand-on, the next failure is try %d, want 6", tries)
	}
	first, err := s.FirstFailures(ctx, ed, []int64{5, 6})
	if err != nil || len(first) != 2 || !first[0].Equal(t0) || !first[1].IsZero() {
		t.Errorf("first failures: %v %v, want [%v, zero]", first, err, t0)
	}
	if first, err := s.FirstFailures(ctx, ed, nil); first != nil || err != nil {
		t.Errorf("first failures of nobody: %v %v", first, err)
	}
}

// TestClaimRetriesLimit: at most limit due retries are taken, the rest
// stay due; the next due time is the earliest left, leases included;
// none waiting says zero.
func TestClaimRetriesLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	const ed = "2026-11-27"
	now := time.UnixMilli(1_800_000_000_000)
	if ids, next, err := s.ClaimRetries(ctx, ed, now, time.Minute, 10); len(ids) != 0 || !next.IsZero() || err != nil {
		t.Fatalf("no retries: %v %v %v", ids, next, err)
	}
	for id := int64(1); id <= 3; id++ {
		if _, err := s.ScheduleRetry(ctx, ed, id, now, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	ids, next, err := s.ClaimRetries(ctx, ed, now, time.Minute, 2)
	if err != nil || len(ids) != 2 || !next.Equal(now) {
		t.Fatalf("limit 2 of 3 due: %v, next %v, %v", ids, next, err)
	}
	rest, next, _ := s.ClaimRetries(ctx, ed, now, time.Minute, 2)
	if len(rest) != 1 || slices.Contains(ids, rest[0]) || !next.Equal(now.Add(time.Minute)) {
		t.Errorf("the one left: %v (first %v), next %v", rest, ids, next)
	}
}

// TestGiveUpRetries: every subscriber still waiting for a retry is
// recorded as failed, counted once, and no longer waits.
func TestGiveUpRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	const ed = "2026-11-27"
	now := time.UnixMilli(1_800_000_000_000)
	if _, _, err := s.CreateSendJob(ctx, ed, 10, 10, 10, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GiveUpRetries(ctx, ed, now); n != 0 || err != nil {
		t.Errorf("none waiting: %d %v", n, err)
	}
	waiting := []int64{2, 3, 7}
	for _, id := range waiting {
		if _, err := s.ScheduleRetry(ctx, ed, id, now, time.Second, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSend(ctx, ed, 4, "sent", now); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GiveUpRetries(ctx, ed, now); n != 3 || err != nil {
		t.Fatalf("gave up %d (%v), want 3", n, err)
	}
	job, err := s.SendJob(ctx, ed)
	if err != nil || job.Failed != 3 || job.Sent != 1 || job.Retrying != 0 {
		t.Errorf("job after giving up: %+v %v", job, err)
	}
	delivered, failed, _ := s.Handled(ctx, ed, 1, 11)
	for id := int64(1); id <= 10; id++ {
		if failed(id) != slices.Contains(waiting, id) || delivered(id) != (id == 4) {
			t.Errorf("id %d: failed %v delivered %v", id, failed(id), delivered(id))
		}
	}
	if n, _ := s.GiveUpRetries(ctx, ed, now); n != 0 {
		t.Errorf("giving up again: %d", n)
	}
}

// TestReleaseChunk: a released chunk goes to the next sender at once,
// long before its lease would end; a release by a sender not holding the
// chunk changes nothing.
func TestReleaseChunk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	const ed = "2026-11-27"
	now := time.UnixMilli(1_800_000_000_000)
	if _, _, err := s.CreateSendJob(ctx, ed, 20, 20, 10, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	epoch, _, _ := s.JoinSendJob(ctx, ed, now)
	a, _, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Hour)
	b, _, _, _ := s.ClaimChunk(ctx, ed, "b", epoch, now, time.Hour)
	if err := s.ReleaseChunk(ctx, ed, "b", a); err != nil {
		t.Fatal(err)
	}
	if _, ok, wait, _ := s.ClaimChunk(ctx, ed, "c", epoch, now, time.Hour); ok || !wait.Equal(now.Add(time.Hour)) {
		t.Fatalf("b released a's chunk: c got one (%v), wait %v", ok, wait)
	}
	if err := s.ReleaseChunk(ctx, ed, "a", a); err != nil {
		t.Fatal(err)
	}
	if got, ok, _, _ := s.ClaimChunk(ctx, ed, "c", epoch, now, time.Hour); !ok || got != a {
		t.Errorf("after a released chunk %d, c got %d (%v)", a, got, ok)
	}
	if err := s.CompleteChunk(ctx, ed, "a", epoch, a, now); !errors.Is(err, store.ErrNotHolder) {
		t.Errorf("a completed the chunk it released: %v", err)
	}
	if err := s.CompleteChunk(ctx, ed, "b", epoch, b, now); err != nil {
		t.Errorf("b completes its own chunk: %v", err)
	}
}

// TestFinishSendJobAtAnotherEpoch: a sender whose epoch is stale learns
// whether the job is finished (by another sender) or not (paused, or
// resumed at a newer epoch); a job that is gone is an error.
func TestFinishSendJobAtAnotherEpoch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	s.CreateSendJob(ctx, ed, 5, 5, 10, time.Hour, now)
	epoch, _, _ := s.JoinSendJob(ctx, ed, now)
	c, _, _, _ := s.ClaimChunk(ctx, ed, "a", epoch, now, time.Hour)
	if done, err := s.FinishSendJob(ctx, ed, epoch, now); done || err != nil {
		t.Errorf("a chunk not done: %v %v", done, err)
	}
	if ok, _ := s.SetSendState(ctx, ed, digest.SendPaused, "hold", now, digest.SendRunning); !ok {
		t.Fatal("not paused")
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch, now); done || err != nil {
		t.Errorf("paused: %v %v", done, err)
	}
	s.SetSendState(ctx, ed, digest.SendQueued, "", now, digest.SendPaused)
	epoch2, _, _ := s.JoinSendJob(ctx, ed, now)
	c, _, _, _ = s.ClaimChunk(ctx, ed, "b", epoch2, now, time.Hour)
	if err := s.CompleteChunk(ctx, ed, "b", epoch2, c, now); err != nil {
		t.Fatal(err)
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch2, now); !done || err != nil {
		t.Fatalf("finished: %v %v", done, err)
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch, now); !done || err != nil {
		t.Errorf("the stale sender is not told it is finished: %v %v", done, err)
	}
	if done, err := s.FinishSendJob(ctx, ed, epoch2, now); !done || err != nil {
		t.Errorf("finishing again: %v %v", done, err)
	}
	if done, err := s.FinishSendJob(ctx, "2026-01-01", 0, now); done || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a job that is not there: %v %v", done, err)
	}
}
