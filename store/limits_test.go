package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestAllowSpendsABudgetPerClient: a budget of n a minute lets a client
// make n requests at once and then refuses the next, saying it is allowed
// again in about a minute/n; peeking takes nothing; other clients and
// other buckets have budgets of their own; a budget below 1 counts as 1.
func TestAllowSpendsABudgetPerClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, 10)
	allow := func(bucket, client string, perMinute int, peek bool) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := s.Allow(ctx, bucket, client, perMinute, peek)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}
	// Peeking at a fresh budget, many times, takes nothing from it.
	for range 3 {
		if ok, wait := allow("subscribe", "a", 2, true); !ok || wait != 0 {
			t.Fatalf("peek at a fresh budget: %v %v", ok, wait)
		}
	}
	for i := range 2 {
		if ok, wait := allow("subscribe", "a", 2, false); !ok || wait != 0 {
			t.Fatalf("request %d of a budget of 2: refused (%v)", i+1, wait)
		}
	}
	ok, wait := allow("subscribe", "a", 2, false)
	if ok || wait <= 20*time.Second || wait > 30*time.Second {
		t.Fatalf("third request of a budget of 2 a minute: %v, wait %v (want refused, about 30s)", ok, wait)
	}
	if ok, pw := allow("subscribe", "a", 2, true); ok || pw <= 20*time.Second || pw > 30*time.Second {
		t.Errorf("peek at a spent budget: %v, wait %v", ok, pw)
	}
	if ok, _ := allow("subscribe", "b", 2, false); !ok {
		t.Error("another client was refused: budgets are per client")
	}
	if ok, _ := allow("resend", "a", 2, false); !ok {
		t.Error("another bucket was refused: budgets are per bucket")
	}
	for _, perMinute := range []int{0, -5} {
		client := "zero" + strings.Repeat("-", -perMinute)
		if ok, _ := allow("subscribe", client, perMinute, false); !ok {
			t.Fatalf("budget %d: the first request was refused", perMinute)
		}
		ok, wait := allow("subscribe", client, perMinute, false)
		if ok || wait <= 50*time.Second || wait > time.Minute {
			t.Errorf("budget %d (one a minute): second request %v, wait %v", perMinute, ok, wait)
		}
	}
}

// TestClaimMailbox: one claim per mailbox per window, counted from the
// claim; the window's end is free again; only a hash of the address is
// kept, and only for the window.
func TestClaimMailbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix})
	now := time.Now()
	const window = time.Hour
	claim := func(mailbox string, at time.Time) bool {
		t.Helper()
		ok, err := s.ClaimMailbox(ctx, mailbox, at, window)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("ann@example.com", now) {
		t.Fatal("a first claim was refused")
	}
	if claim("ann@example.com", now.Add(window-time.Millisecond)) {
		t.Error("a second claim within the window was allowed")
	}
	if !claim("bob@example.com", now) {
		t.Error("another mailbox was refused")
	}
	if !claim("ann@example.com", now.Add(window)) {
		t.Error("a claim once the window has passed was refused")
	}
	keys, err := allKeys(ctx, rdb, prefix+"*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("keys: %v, want one per mailbox", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "ann") || strings.Contains(k, "bob") || strings.Contains(k, "example") {
			t.Errorf("key %q holds the address", k)
		}
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= window-time.Minute || ttl > window {
			t.Errorf("key %q expires in %v, want the window (%v)", k, ttl, window)
		}
	}
}

// TestUseOnce: a token is usable once until it expires; the key expires
// then (a second at least, for a token already past its time), and holds
// no token in clear.
func TestUseOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix})
	for _, c := range []struct {
		id      string
		until   time.Time
		min     time.Duration
		max     time.Duration
		comment string
	}{
		{"sig-hour", time.Now().Add(time.Hour), time.Hour - time.Minute, time.Hour, "an hour ahead"},
		{"sig-past", time.Now().Add(-time.Hour), 0, time.Second, "already past: kept a second"},
	} {
		if ok, err := s.UseOnce(ctx, c.id, c.until); !ok || err != nil {
			t.Fatalf("%s: first use refused: %v", c.comment, err)
		}
		if ok, err := s.UseOnce(ctx, c.id, c.until); ok || err != nil {
			t.Errorf("%s: second use allowed (%v)", c.comment, err)
		}
		keys, _ := allKeys(ctx, rdb, prefix+"used:*")
		var found bool
		for _, k := range keys {
			if strings.Contains(k, c.id) {
				t.Errorf("key %q holds the token", k)
			}
			if ttl := rdb.PTTL(ctx, k).Val(); ttl > c.min && ttl <= c.max {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no key expiring in (%v, %v]: %v", c.comment, c.min, c.max, keys)
		}
	}
}
