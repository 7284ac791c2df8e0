package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// TestMarkDelivered: a subscriber marked delivered before the edition's
// job exists is in its ledger once, and the job is still made whole
// afterwards; with a job, the mark counts as sent.
func TestMarkDelivered(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if fresh, err := s.MarkDelivered(ctx, "2026-11-30", 7, now); err != nil || !fresh {
		t.Fatalf("first mark: %v %v", fresh, err)
	}
	if fresh, _ := s.MarkDelivered(ctx, "2026-11-30", 7, now); fresh {
		t.Error("a second mark was fresh")
	}
	delivered, _, err := s.Handled(ctx, "2026-11-30", 0, 16)
	if err != nil || !delivered(7) || delivered(6) {
		t.Fatalf("the ledger after the mark: %v", err)
	}
	job, created, err := s.CreateSendJob(ctx, "2026-11-30", 3, 10, 100, time.Hour, now)
	if err != nil || !created || job.State != digest.SendQueued || job.Sent != 0 {
		t.Fatalf("the job made after a mark: %+v created=%v %v", job, created, err)
	}
	if fresh, _ := s.MarkDelivered(ctx, "2026-11-30", 8, now); !fresh {
		t.Error("a mark with a job was not fresh")
	}
	if job, _ := s.SendJob(ctx, "2026-11-30"); job.Sent != 1 {
		t.Errorf("a mark with a job: sent %d, want 1", job.Sent)
	}
}
