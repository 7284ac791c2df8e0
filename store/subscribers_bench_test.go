package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// BenchmarkSubscribers100k imports 100,000 subscribers in pipelined batches
// of 1,000 into a fresh Redis and reports the rate and Redis's used_memory
// per subscriber (INFO memory, after minus before).
//
//	go test -run '^$' -bench Subscribers100k -benchtime 1x ./store
func BenchmarkSubscribers100k(b *testing.B) {
	const n, batch = 100_000, 1000
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b)})
		s := store.New(rdb, store.Options{})
		before := usedMemory(b, rdb)
		subs := make([]digest.Subscriber, 0, batch)
		b.StartTimer()
		start := time.Now()
		for i := range n {
			subs = append(subs, digest.Subscriber{
				Email: fmt.Sprintf("reader%06d@example.com", i), Name: fmt.Sprintf("Reader %06d", i),
				Status: digest.Active, Format: digest.FormatHTML,
				Consent: digest.Consent{Source: "import", SubscribedAt: start, Text: "2026-11"},
			})
			if len(subs) == batch {
				if _, err := s.ImportSubscribers(ctx, subs); err != nil {
					b.Fatal(err)
				}
				subs = subs[:0]
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(n)/elapsed.Seconds(), "subscribers/s")
		b.ReportMetric(float64(usedMemory(b, rdb)-before)/n, "redis-bytes/subscriber")
		rdb.Close()
		b.StartTimer()
	}
}

func usedMemory(tb testing.TB, rdb *redis.Client) int64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}
