package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/store"
)

// TestWatchEditionsPolls: a change whose announcement was lost (the
// version moved, nothing published) is seen by the poll, once; polls
// that find the version unchanged call nothing.
func TestWatchEditionsPolls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := plainServer(t) // a server of its own: its command counts are this test's
	const prefix = "w:"
	s := store.New(rdb, store.Options{Prefix: prefix})
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchEditions(ctx, 10*time.Millisecond, func() { calls.Add(1) })
	}()
	// The watcher has read the version it starts from, and polled at
	// least once, when the server has run two GETs (however slowly a
	// busy machine started it); then about ten polls more.
	for deadline := time.Now().Add(10 * time.Second); commandCalls(t, rdb, "get") < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not poll within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls with nothing changed", n)
	}
	if err := rdb.Incr(ctx, prefix+"{editions}:version").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls for one unannounced change, want 1", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Error("WatchEditions did not return when its context ended")
	}
}
