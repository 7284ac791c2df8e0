package store_test

import (
	"context"
	"testing"
	"time"
)

func TestOutboxLeases(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	if _, ok, err := s.ClaimMail(ctx, now, time.Minute); ok || err != nil {
		t.Fatalf("empty outbox: ok=%v err=%v", ok, err)
	}
	for _, j := range []string{"a", "b"} {
		if err := s.EnqueueMail(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	a, _, _ := s.ClaimMail(ctx, now, time.Minute)
	b, _, _ := s.ClaimMail(ctx, now, time.Minute)
	if a != "a" || b != "b" {
		t.Fatalf("claimed %q, %q", a, b)
	}
	if _, ok, _ := s.ClaimMail(ctx, now.Add(30*time.Second), time.Minute); ok {
		t.Fatal("a job was claimed twice within its lease")
	}
	if err := s.AckMail(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// After the lease, the unacknowledged job comes back; the acked one does not.
	job, ok, _ := s.ClaimMail(ctx, now.Add(2*time.Minute), time.Minute)
	if !ok || job != "b" {
		t.Fatalf("after the lease: %q ok=%v, want b again", job, ok)
	}
	if _, ok, _ := s.ClaimMail(ctx, now.Add(2*time.Minute), time.Minute); ok {
		t.Error("an acknowledged job came back")
	}
}

func TestOutboxDefer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	if err := s.EnqueueMail(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if job, ok, _ := s.ClaimMail(ctx, now, time.Minute); !ok || job != "a" {
		t.Fatalf("claim: %q %v", job, ok)
	}
	if err := s.DeferMail(ctx, "a", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.ClaimMail(ctx, now.Add(59*time.Minute), time.Minute); ok {
		t.Fatal("a deferred job came back before its time")
	}
	if job, ok, _ := s.ClaimMail(ctx, now.Add(61*time.Minute), time.Minute); !ok || job != "a" {
		t.Fatalf("after its time: %q %v", job, ok)
	}
	// Deferring a job no longer in flight does not bring it back.
	_ = s.AckMail(ctx, "a")
	_ = s.DeferMail(ctx, "a", now.Add(2*time.Hour))
	if _, ok, _ := s.ClaimMail(ctx, now.Add(3*time.Hour), time.Minute); ok {
		t.Error("an acknowledged job came back after DeferMail")
	}
}
