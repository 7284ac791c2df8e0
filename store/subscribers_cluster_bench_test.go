package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// BenchmarkSubscribers100kCluster stores 100,000 subscribers on a
// three-master Redis Cluster and reports the bytes per subscriber over
// all masters and the share of them the fullest master holds (the key
// layout must spread subscribers: at most half on any master).
//
//	go test -run '^$' -bench Subscribers100kCluster -benchtime 1x ./store
func BenchmarkSubscribers100kCluster(b *testing.B) {
	const n, batch = 100_000, 1000
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		c := redistest.StartCluster(b)
		rdb := c.Client(b)
		s := store.New(rdb, store.Options{})
		before := make([]int64, len(c.Addrs))
		for i, a := range c.Addrs {
			before[i] = usedMemory(b, nodeClient(b, a))
		}
		b.StartTimer()
		start := time.Now()
		subs := make([]digest.Subscriber, 0, batch)
		for i := range n {
			subs = append(subs, digest.Subscriber{
				Email: fmt.Sprintf("reader%06d@example.com", i), Name: fmt.Sprintf("Reader %06d", i),
				Status: digest.Active, Format: digest.FormatHTML, ConfirmSentAt: start,
				Consent: digest.Consent{Source: "import", SubscribedAt: start, ConfirmedAt: start, Text: "import via CLI"},
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
		var total, most int64
		for i, a := range c.Addrs {
			used := usedMemory(b, nodeClient(b, a)) - before[i]
			b.Logf("master %s: %d bytes (%.1f B/subscriber)", a, used, float64(used)/n)
			total += used
			most = max(most, used)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "subscribers/s")
		b.ReportMetric(float64(total)/n, "redis-bytes/subscriber")
		b.ReportMetric(float64(most)/float64(total), "fullest-master-share")
		b.StartTimer()
	}
}
