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

// BenchmarkSubscribers100k stores 100,000 subscribers in pipelined batches
// of 1,000 into a fresh Redis and reports the rate and Redis's used_memory
// per subscriber (INFO memory, after minus before), for two shapes of
// record: "import" (no IP or user agent) and "form" (IPv4 or IPv6, a real
// browser user agent from a pool of 500, confirmed from another IP).
//
//	go test -run '^$' -bench Subscribers100k -benchtime 1x ./store
func BenchmarkSubscribers100k(b *testing.B) {
	const n, batch = 100_000, 1000
	ctx := context.Background()
	agents := make([]string, 500)
	for i := range agents {
		agents[i] = fmt.Sprintf("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36", 100+i%40, i)
	}
	shapes := map[string]func(i int, now time.Time) digest.Consent{
		"import": func(i int, now time.Time) digest.Consent {
			return digest.Consent{Source: "import", SubscribedAt: now, ConfirmedAt: now, Text: "import via CLI"}
		},
		"form": func(i int, now time.Time) digest.Consent {
			ip := fmt.Sprintf("198.51.%d.%d", i/250%250, i%250)
			if i%4 == 0 {
				ip = fmt.Sprintf("2001:db8:%x::%x", i/65536, i%65536)
			}
			return digest.Consent{Source: "form", SubscribedAt: now, IP: ip, UserAgent: agents[i%len(agents)],
				Text: "2026-11", ConfirmedAt: now.Add(time.Minute), ConfirmIP: ip}
		},
	}
	for name, consent := range shapes {
		b.Run(name, func(b *testing.B) {
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
						Status: digest.Active, Format: digest.FormatHTML, ConfirmSentAt: start,
						Consent: consent(i, start),
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
		})
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

func nodeClient(tb testing.TB, addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}
