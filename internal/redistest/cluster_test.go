package redistest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestClusterSpreadsSlots: the three masters each serve a third of the
// slots, and a key's master answers for it.
func TestClusterSpreadsSlots(t *testing.T) {
	c := StartCluster(t)
	rdb := c.Client(t)
	ctx := context.Background()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 3 {
		t.Fatalf("%d slot ranges, want 3", len(slots))
	}
	for _, k := range []string{"{a}x", "{b}x", "{c}x"} {
		if err := rdb.Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
	// Keys of two slots in one command: the cluster refuses it.
	if err := rdb.Do(ctx, "MSET", "{a}y", "1", "{b}y", "1").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MSET over two slots: %v, want CROSSSLOT", err)
	}
}

// TestSentinelFailover: a failover promotes the replica and the client
// follows it.
func TestSentinelFailover(t *testing.T) {
	s := StartSentinel(t)
	rdb := s.Client(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Wait(ctx, 1, time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d %v", n, err)
	}
	now, err := s.Failover(ctx, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if now != s.Replica {
		t.Errorf("new master %s, want the replica %s", now, s.Replica)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Set(ctx, "k2", "after", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after the failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, _ := rdb.Get(ctx, "k").Result(); v != "before" {
		t.Errorf("k after the failover: %q", v)
	}
}
