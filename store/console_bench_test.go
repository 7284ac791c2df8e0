package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// BenchmarkSearchSubscribers100k times one address-prefix search of the
// console among 100,000 subscribers (it scans the whole email index).
//
//	go test -run '^$' -bench SearchSubscribers100k ./store
func BenchmarkSearchSubscribers100k(b *testing.B) {
	const n, batch = 100_000, 1000
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
	defer rdb.Close()
	s := store.New(rdb, store.Options{})
	subs := make([]digest.Subscriber, 0, batch)
	for i := range n {
		subs = append(subs, digest.Subscriber{Email: fmt.Sprintf("reader%06d@example.com", i), Status: digest.Active, Format: digest.FormatHTML})
		if len(subs) == batch {
			if _, err := s.ImportSubscribers(ctx, subs); err != nil {
				b.Fatal(err)
			}
			subs = subs[:0]
		}
	}
	b.ResetTimer()
	for range b.N {
		got, _, err := s.SearchSubscribers(ctx, "reader09999", "", 50)
		if err != nil || len(got) != 10 {
			b.Fatalf("%d found, %v", len(got), err)
		}
	}
}
