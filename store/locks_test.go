package store_test

import (
	"context"
	"testing"
	"time"
)

func TestScheduleLock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	if locked, err := s.ScheduleLocked(ctx, "2026-11-27"); err != nil || locked {
		t.Fatalf("a fresh day is locked: %v %v", locked, err)
	}
	if took, err := s.TakeScheduleLock(ctx, "2026-11-27", time.Minute); err != nil || !took {
		t.Fatalf("first take: %v %v", took, err)
	}
	if took, _ := s.TakeScheduleLock(ctx, "2026-11-27", time.Minute); took {
		t.Error("the day's lock was taken twice")
	}
	if took, _ := s.TakeScheduleLock(ctx, "2026-11-28", time.Minute); !took {
		t.Error("one day's lock held another day's")
	}
	if locked, _ := s.ScheduleLocked(ctx, "2026-11-27"); !locked {
		t.Error("ScheduleLocked does not see the taken lock")
	}
	if err := s.ReleaseScheduleLock(ctx, "2026-11-27"); err != nil {
		t.Fatal(err)
	}
	if took, _ := s.TakeScheduleLock(ctx, "2026-11-27", time.Minute); !took {
		t.Error("a released lock cannot be taken again")
	}
}

func TestRememberIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	if first, fresh, err := s.RememberIdempotencyKey(ctx, "send:k", "a"); err != nil || first != "a" || !fresh {
		t.Fatalf("first use: %q %v %v", first, fresh, err)
	}
	if first, fresh, _ := s.RememberIdempotencyKey(ctx, "send:k", "b"); first != "a" || fresh {
		t.Errorf("a replay with another value: %q fresh=%v, want \"a\" and not fresh", first, fresh)
	}
	if first, fresh, _ := s.RememberIdempotencyKey(ctx, "send:other", "b"); first != "b" || !fresh {
		t.Errorf("another key: %q fresh=%v", first, fresh)
	}
}

func TestSecretAndFeedIDAreKeptOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	for name, get := range map[string]func(context.Context, string) (string, error){"secret": s.Secret, "feed id": s.FeedID} {
		if v, err := get(ctx, "first"); err != nil || v != "first" {
			t.Fatalf("%s first: %q %v", name, v, err)
		}
		if v, _ := get(ctx, "second"); v != "first" {
			t.Errorf("%s changed to %q", name, v)
		}
	}
}

func TestScheduleSinceIsKeptOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	first := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	if got, err := s.ScheduleSince(ctx, first); err != nil || !got.Equal(first) {
		t.Fatalf("first start: %v %v, want %v", got, err, first)
	}
	if got, _ := s.ScheduleSince(ctx, first.Add(24*time.Hour)); !got.Equal(first) {
		t.Errorf("a later start moved the schedule's start to %v", got)
	}
}
