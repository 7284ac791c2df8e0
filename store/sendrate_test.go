package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestPaceSendBurst: at one message in four seconds with a burst of 3,
// three go at once and the fourth waits (here, past its context: it fails
// with the context's error); a burst below 1 counts as 1.
func TestPaceSendBurst(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	for i, c := range []struct {
		burst, free int
	}{{3, 3}, {1, 1}, {0, 1}, {-2, 1}} {
		s := store.New(rdb, store.Options{Prefix: fmt.Sprint(prefix, i, ":")})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		for j := range c.free {
			if err := s.PaceSend(ctx, 0.25, c.burst); err != nil {
				t.Fatalf("burst %d: message %d of %d waited: %v", c.burst, j+1, c.free, err)
			}
		}
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		if err := s.PaceSend(ctx, 0.25, c.burst); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("burst %d: message %d did not wait for the next slot: %v", c.burst, c.free+1, err)
		}
		cancel()
	}
}
