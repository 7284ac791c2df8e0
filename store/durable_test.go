package store_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// onLog is a slog handler that passes every record's message to f: the
// store logs each write it tries again.
type onLog func(msg string)

func (f onLog) Enabled(context.Context, slog.Level) bool { return true }
func (f onLog) Handle(_ context.Context, r slog.Record) error {
	f(r.Message)
	return nil
}
func (f onLog) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f onLog) WithGroup(string) slog.Handler      { return f }

const writingAgain = "Writing again: not yet acknowledged by a replica"

// plainServer starts a throwaway redis-server and returns a client on it
// (no retries of its own: the store's are under test).
func plainServer(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	// A replica joining syncs at once rather than after 5 s.
	if err := rdb.ConfigSet(context.Background(), "repl-diskless-sync-delay", "0").Err(); err != nil {
		t.Fatal(err)
	}
	return rdb
}

// follow makes replica a replica of master and waits until master counts
// it.
func follow(t *testing.T, replica, master *redis.Client) {
	t.Helper()
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(master.Options().Addr)
	if err := replica.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	replicas(t, master, 1)
}

// replicas waits until master counts n replicas.
func replicas(t *testing.T, master *redis.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, err := store.DetectReplicas(context.Background(), master); err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master does not count %d replicas", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// followOnRetry is a store logger that counts in again each write tried
// again and makes replica follow master then: the WAIT that found no
// replica finds one on the next try.
func followOnRetry(t *testing.T, replica, master *redis.Client, again *int) *slog.Logger {
	return slog.New(onLog(func(msg string) {
		if msg != writingAgain {
			return
		}
		*again++
		follow(t, replica, master)
	}))
}

// TestWaitReplicasAcknowledged: with WaitReplicas 1 and a replica, a write
// returns once the replica has it (read there at once), answered by the
// script's first run; a script's own error is returned at once, not
// tried again; DetectReplicas counts the replica.
func TestWaitReplicasAcknowledged(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	master, replica := plainServer(t), plainServer(t)
	follow(t, replica, master)
	var again int
	var mu sync.Mutex
	logger := slog.New(onLog(func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if msg == writingAgain {
			again++
		}
	}))
	s := store.New(master, store.Options{Prefix: "w:", WaitReplicas: 1, Logger: logger})
	onReplica := store.New(replica, store.Options{Prefix: "w:"})
	sub, added, err := s.AddSubscriber(ctx, subscriber("ann@example.com", digest.Active), false)
	if err != nil || !added {
		t.Fatalf("add: %v %v", added, err)
	}
	if got, err := onReplica.Subscriber(ctx, sub.ID); err != nil || got.Email != "ann@example.com" {
		t.Errorf("the replica has not the acknowledged subscriber: %+v %v", got, err)
	}
	// A chunk nobody holds: the script's one run says so (a second run
	// would count as held).
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	if _, _, err := s.CreateSendJob(ctx, ed, 10, 10, 5, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if held, err := s.RenewChunk(ctx, ed, "nobody", 0, now, time.Minute); held || err != nil {
		t.Errorf("renewing a chunk not held: %v %v", held, err)
	}
	// A script's own error (a key of the wrong type) comes back at once.
	if err := master.Set(ctx, "w:{send:2026-11-28}:job", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := s.JoinSendJob(ctx, "2026-11-28", now); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || time.Since(start) > 3*time.Second {
		t.Errorf("a script error: %v after %v", err, time.Since(start))
	}
	mu.Lock()
	defer mu.Unlock()
	if again != 0 {
		t.Errorf("%d writes tried again with the replica acknowledging", again)
	}
	if n, err := store.DetectReplicas(ctx, master); n != 1 || err != nil {
		t.Errorf("DetectReplicas on a master with one replica: %d %v", n, err)
	}
}

// TestWaitReplicasShortfallRunsAgain: when WAIT falls short, the script
// runs again until the replica acknowledges; a completion or a state
// change whose second run finds its work done counts as done (not "not
// the holder", not "not moved"), and counts once.
func TestWaitReplicasShortfallRunsAgain(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master, replica := plainServer(t), plainServer(t)
	plain := store.New(master, store.Options{Prefix: "w:"})
	now := time.UnixMilli(1_800_000_000_000)
	const ed = "2026-11-27"
	if _, _, err := plain.CreateSendJob(ctx, ed, 10, 10, 5, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	epoch, _, _ := plain.JoinSendJob(ctx, ed, now)
	chunk, ok, _, err := plain.ClaimChunk(ctx, ed, "a", epoch, now, time.Minute)
	if !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// The script is loaded already (as a store that does not wait does):
	// each try below is one EVALSHA and one WAIT.
	if err := plain.CompleteChunk(ctx, ed, "nobody", epoch, chunk, now); !errors.Is(err, store.ErrNotHolder) {
		t.Fatalf("completing a chunk held by another: %v", err)
	}
	var again int
	logger := followOnRetry(t, replica, master, &again)
	s := store.New(master, store.Options{Prefix: "w:", WaitReplicas: 1, Logger: logger})
	if err := s.CompleteChunk(ctx, ed, "a", epoch, chunk, now); err != nil {
		t.Fatalf("a completion acknowledged on its second run: %v", err)
	}
	if again < 1 {
		t.Errorf("written again %d times, want at least once", again)
	}
	if job, _ := plain.SendJob(ctx, ed); job.ChunksDone != 1 {
		t.Errorf("chunks done %d, want 1 (the second run changes nothing)", job.ChunksDone)
	}

	// A pause whose first run moved the job, written again: the second
	// run finds it paused already, and the pause counts as done, once.
	if err := replica.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	replicas(t, master, 0)
	if moved, err := plain.SetSendState(ctx, ed, digest.SendRunning, "", now, digest.SendQueued); moved || err != nil {
		t.Fatalf("a running job moved from queued: %v %v", moved, err)
	}
	again = 0
	if moved, err := s.SetSendState(ctx, ed, digest.SendPaused, "hold", now, digest.SendRunning); !moved || err != nil {
		t.Errorf("a pause acknowledged on its second run: moved %v, %v", moved, err)
	}
	job, _ := plain.SendJob(ctx, ed)
	if again < 1 || job.State != digest.SendPaused || job.Epoch != epoch+1 {
		t.Errorf("written again %d times (want at least once); job %s at epoch %d (want paused at %d)", again, job.State, job.Epoch, epoch+1)
	}
}

// TestWaitReplicasUnreachable: a write to a Redis that does not answer is
// tried again, backing off (20 ms, doubling, at most 500 ms), until the
// context ends, and then fails with the context's error; a context
// cancelled meanwhile, or before, stops it at once. A store that waits
// for no replica tries once.
func TestWaitReplicasUnreachable(t *testing.T) {
	t.Parallel()
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { down.Close() })
	var again int
	var stop context.CancelFunc
	logger := slog.New(onLog(func(msg string) {
		if msg == writingAgain {
			again++
			if stop != nil {
				stop()
			}
		}
	}))
	s := store.New(down, store.Options{Prefix: "w:", WaitReplicas: 1, Logger: logger})
	now := time.UnixMilli(1_800_000_000_000)

	// Tries at 0, 20, 60, 140, 300 and 620 ms, the next at 1120 ms.
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := s.JoinSendJob(ctx, "2026-11-27", now)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's deadline", err)
	}
	if again < 4 || again > 7 || time.Since(start) > 3*time.Second {
		t.Errorf("tried again %d times in %v, want 6 (backing off from 20 ms to 500 ms)", again, time.Since(start))
	}

	again = 0
	ctx, stop = context.WithCancel(context.Background())
	if _, _, err := s.JoinSendJob(ctx, "2026-11-27", now); !errors.Is(err, context.Canceled) || again != 1 {
		t.Errorf("cancelled while backing off: %v after %d tries again", err, again)
	}

	// Without replicas to wait for, a write is tried once.
	again, stop = 0, nil
	lone := store.New(down, store.Options{Prefix: "w:", Logger: logger})
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := lone.JoinSendJob(ctx, "2026-11-27", now); err == nil || ctx.Err() != nil || again != 0 {
		t.Errorf("a lone server that does not answer: %v after %d tries again (context: %v)", err, again, ctx.Err())
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.JoinSendJob(ctx, "2026-11-27", now); !errors.Is(err, context.Canceled) || again != 0 {
		t.Errorf("a context cancelled before: %v after %d tries again", err, again)
	}
}

// TestWaitReplicasShortfallUpdatesOnce: an UpdateSubscriber whose WAIT
// falls short runs its script again; the second run finds the first's
// record and the update is done — the change is made once, not again on
// top of itself.
func TestWaitReplicasShortfallUpdatesOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master, replica := plainServer(t), plainServer(t)
	plain := store.New(master, store.Options{Prefix: "w:"})
	sub, _, err := plain.AddSubscriber(ctx, subscriber("ann@example.com", digest.Active), false)
	if err != nil {
		t.Fatal(err)
	}
	// The script is loaded already: each try below is one EVALSHA and one
	// WAIT.
	if _, err := plain.UpdateSubscriber(ctx, sub.ID, func(s *digest.Subscriber) error { s.Name = "Ann"; return nil }); err != nil {
		t.Fatal(err)
	}
	var again int
	logger := followOnRetry(t, replica, master, &again)
	s := store.New(master, store.Options{Prefix: "w:", WaitReplicas: 1, Logger: logger})
	calls := 0
	got, err := s.UpdateSubscriber(ctx, sub.ID, func(s *digest.Subscriber) error {
		calls++
		s.Name += "+"
		return nil
	})
	if err != nil || got.Name != "Ann+" {
		t.Fatalf("update acknowledged on its second run: %q %v", got.Name, err)
	}
	if again < 1 || calls != 1 {
		t.Errorf("written again %d times (want at least once), the change made %d times (want once)", again, calls)
	}
	if cur, err := plain.Subscriber(ctx, sub.ID); err != nil || cur.Name != "Ann+" {
		t.Errorf("stored: %q %v, want Ann+", cur.Name, err)
	}
}
