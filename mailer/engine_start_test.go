package mailer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/mailer"
)

// TestEngineStartJobChunksAndRetryWindow: a new job covers the audience in
// chunks of Batch ids — by default 1000, or about two seconds of sending
// at a set rate (10 to 1000), so that retries, sent between chunks, come
// within seconds — and retries failures for RetryFor (default 6 h).
func TestEngineStartJobChunksAndRetryWindow(t *testing.T) {
	b := newBench(t, 3)
	tests := []struct {
		opts     mailer.EngineOptions
		chunk    int64
		retryFor time.Duration
	}{
		{mailer.EngineOptions{}, 1000, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 50}, 100, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 7.5}, 15, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 5}, 10, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 1}, 10, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 499.9}, 999, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 5000}, 1000, 6 * time.Hour},
		{mailer.EngineOptions{Rate: 50, Batch: 7}, 7, 6 * time.Hour},
		{mailer.EngineOptions{Batch: 250, RetryFor: time.Hour}, 250, time.Hour},
	}
	for i, tt := range tests {
		e := b.edition
		e.ID = fmt.Sprintf("2026-10-%02d", i+1)
		job, err := b.engine("a", tt.opts).StartJob(context.Background(), e, false)
		if err != nil {
			t.Fatal(err)
		}
		if job.ChunkSize != tt.chunk {
			t.Errorf("%+v: chunks of %d ids, want %d", tt.opts, job.ChunkSize, tt.chunk)
		}
		if got := job.RetryUntil.Sub(job.Created); got < tt.retryFor-time.Second || got > tt.retryFor+time.Second {
			t.Errorf("%+v: retries for %v, want %v", tt.opts, got, tt.retryFor)
		}
	}
}
