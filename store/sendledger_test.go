package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestHandledReadsItsRange: Handled answers for the ids from..to-1 only,
// at any byte offset of the ledger's bitmaps: ids just outside the range
// read as neither delivered nor failed even when they are.
func TestHandledReadsItsRange(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	if _, _, err := s.CreateSendJob(ctx, ed, 100, 100, 10, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	sent := []int64{7, 8, 9, 15, 16, 23, 24, 40, 63}
	failed := []int64{10, 17, 22, 25}
	for _, id := range sent {
		if err := s.RecordSend(ctx, ed, id, "sent", now); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range failed {
		if err := s.RecordSend(ctx, ed, id, "failed", now); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]int64{{0, 64}, {8, 24}, {9, 23}, {16, 24}, {17, 25}, {40, 41}, {41, 64}} {
		from, to := r[0], r[1]
		d, f, err := s.Handled(ctx, ed, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for id := from - 9; id < to+9; id++ {
			in := id >= from && id < to
			wantD := in && slices.Contains(sent, id)
			wantF := in && slices.Contains(failed, id)
			if d(id) != wantD || f(id) != wantF {
				t.Errorf("Handled(%d, %d): id %d delivered %v failed %v, want %v %v", from, to, id, d(id), f(id), wantD, wantF)
			}
		}
	}
	// A job with nothing recorded: nobody is handled.
	d, f, err := s.Handled(ctx, "2026-11-28", 0, 64)
	if err != nil || d(8) || f(8) {
		t.Errorf("an unknown job: %v %v %v", d(8), f(8), err)
	}
}

// TestSendJobChunkSize: a chunk of one id is allowed (a chunk each); no
// chunk size, or a negative one, is refused and creates nothing.
func TestSendJobChunkSize(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	job, created, err := s.CreateSendJob(ctx, "2026-11-27", 5, 5, 1, time.Hour, now)
	if err != nil || !created || job.Chunks != 5 {
		t.Fatalf("chunks of 1: %+v %v %v", job, created, err)
	}
	if from, to := job.ChunkIDs(4); from != 5 || to != 6 {
		t.Errorf("chunk 4 covers %d…%d, want 5…6", from, to)
	}
	for _, size := range []int64{0, -1} {
		if _, _, err := s.CreateSendJob(ctx, "2026-11-28", 5, 5, size, time.Hour, now); err == nil || !strings.Contains(err.Error(), "chunk size") {
			t.Errorf("chunk size %d: %v, want refused", size, err)
		}
	}
	if pending, err := s.PendingSendJobs(ctx); err != nil || !slices.Equal(pending, []string{"2026-11-27"}) {
		t.Errorf("pending after refusals: %v %v", pending, err)
	}
}

// TestPendingSendJobsListsAll: every queued or running job is listed,
// however many, in the order they were created.
func TestPendingSendJobsListsAll(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.UnixMilli(1_800_000_000_000)
	var want []string
	for i := range 5 {
		ed := time.Date(2026, 11, 20+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		if _, _, err := s.CreateSendJob(ctx, ed, 1, 1, 10, time.Hour, now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		want = append(want, ed)
	}
	if _, _, err := s.JoinSendJob(ctx, want[3], now); err != nil {
		t.Fatal(err)
	}
	if pending, err := s.PendingSendJobs(ctx); err != nil || !slices.Equal(pending, want) {
		t.Errorf("pending: %v %v, want %v", pending, err, want)
	}
}

// TestFinishedSendJobExpires: a job that moves to done or cancelled gets
// its expiry (the ledger SendJobTTL, the job as long as editions are
// kept) and leaves the index of unfinished jobs; a job that moves to
// running, or does not move, keeps its keys for good and stays listed.
func TestFinishedSendJobExpires(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix, KeepEditions: 10, WaitReplicas: redistest.Replicas()})
	now := time.UnixMilli(1_800_000_000_000)
	indexed := func(ed string) bool {
		t.Helper()
		eds, err := rdb.ZRange(ctx, prefix+"sendjobs", 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(eds, ed)
	}
	// ttls maps each of the job's keys (by its last part) to its expiry.
	ttls := func(ed string) map[string]time.Duration {
		t.Helper()
		keys, err := allKeys(ctx, rdb, prefix+"{send:"+ed+"}:*")
		if err != nil || len(keys) < 2 {
			t.Fatalf("%s's keys: %q %v", ed, keys, err)
		}
		out := map[string]time.Duration{}
		for _, k := range keys {
			out[k[strings.LastIndex(k, ":")+1:]] = rdb.PTTL(ctx, k).Val()
		}
		return out
	}
	for _, c := range []struct {
		ed   string
		to   digest.SendState
		from digest.SendState // the state the move asks for
		done bool             // whether it finishes the job
	}{
		{"2026-11-20", digest.SendRunning, digest.SendQueued, false},
		{"2026-11-21", digest.SendDone, digest.SendPaused, false}, // not paused: does not move
		{"2026-11-22", digest.SendDone, digest.SendQueued, true},
		{"2026-11-23", digest.SendCancelled, digest.SendQueued, true},
	} {
		if _, _, err := s.CreateSendJob(ctx, c.ed, 2, 2, 10, time.Hour, now); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSend(ctx, c.ed, 1, "sent", now); err != nil {
			t.Fatal(err)
		}
		moved, err := s.SetSendState(ctx, c.ed, c.to, "test", now, c.from)
		if err != nil || moved != (c.from == digest.SendQueued) {
			t.Fatalf("%s to %s from %s: moved %v %v", c.ed, c.to, c.from, moved, err)
		}
		if indexed(c.ed) == c.done {
			t.Errorf("%s to %s from %s: in the index of unfinished jobs %v", c.ed, c.to, c.from, !c.done)
		}
		for part, ttl := range ttls(c.ed) {
			switch {
			case !c.done && ttl != -1:
				t.Errorf("%s to %s from %s: %s expires in %v, want never", c.ed, c.to, c.from, part, ttl)
			case c.done && part == "job" && (ttl <= 10*24*time.Hour-time.Minute || ttl > 10*24*time.Hour):
				t.Errorf("%s to %s: its job expires in %v, want 10 days (as editions are kept)", c.ed, c.to, ttl)
			case c.done && part != "job" && (ttl <= store.SendJobTTL-time.Minute || ttl > store.SendJobTTL):
				t.Errorf("%s to %s: %s expires in %v, want %v", c.ed, c.to, part, ttl, store.SendJobTTL)
			}
		}
	}
}

// TestReopenKeepsChunkSize: a job reopened (a catch-up, a resend) keeps
// its chunk size, however small; a job written before jobs had one is
// cut into chunks of 1,000.
func TestReopenKeepsChunkSize(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix, KeepEditions: 10, WaitReplicas: redistest.Replicas()})
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	if _, _, err := s.CreateSendJob(ctx, ed, 3, 3, 1, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	finish := func() {
		t.Helper()
		if ok, err := s.SetSendState(ctx, ed, digest.SendDone, "test", now, digest.SendQueued); !ok || err != nil {
			t.Fatalf("finish: %v %v", ok, err)
		}
	}
	finish()
	if err := s.CatchUpSendJob(ctx, ed, 5, 2, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if job, err := s.SendJob(ctx, ed); err != nil || job.ChunkSize != 1 || job.Chunks != 5 {
		t.Errorf("caught up: %+v %v, want 5 chunks of 1", job, err)
	}
	finish()
	if err := s.ResendFailed(ctx, ed, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if job, err := s.SendJob(ctx, ed); err != nil || job.ChunkSize != 1 || job.Chunks != 5 {
		t.Errorf("resent: %+v %v, want 5 chunks of 1", job, err)
	}
	finish()
	if err := rdb.HDel(ctx, prefix+"{send:"+ed+"}:job", "chunk_size").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CatchUpSendJob(ctx, ed, 2500, 1, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if job, err := s.SendJob(ctx, ed); err != nil || job.ChunkSize != 1000 || job.Chunks != 3 {
		t.Errorf("an old job caught up: %+v %v, want 3 chunks of 1000", job, err)
	}
}
