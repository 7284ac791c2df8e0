package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestWatchEditionsPolls: a change whose announcement was lost (the
// version moved, nothing published) is seen by the poll, once; polls
// that find the version unchanged call nothing.
func TestWatchEditionsPolls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix})
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchEditions(ctx, 10*time.Millisecond, func() { calls.Add(1) })
	}()
	time.Sleep(100 * time.Millisecond) // about ten polls
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls with nothing changed", n)
	}
	if err := rdb.Incr(ctx, prefix+"{editions}:version").Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
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
