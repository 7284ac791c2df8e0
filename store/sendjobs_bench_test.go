package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// BenchmarkRecordSend writes delivery-ledger entries from 10 goroutines
// (a sender's connections) on a Sentinel group's master, with each write
// waiting for the replica (wait=1) and not (wait=0): the cost of the
// failover protection, in ledger writes per second.
//
//	go test -run '^$' -bench RecordSend -benchtime 20000x ./store
func BenchmarkRecordSend(b *testing.B) {
	g := redistest.StartSentinel(b)
	rdb := g.Client(b)
	ctx := context.Background()
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", wait), func(b *testing.B) {
			s := store.New(rdb, store.Options{Prefix: fmt.Sprintf("bench%d:%d:", wait, time.Now().UnixNano()), WaitReplicas: wait})
			if _, _, err := s.CreateSendJob(ctx, "2026-11-27", int64(b.N), int64(b.N), 1000, time.Hour, time.Now()); err != nil {
				b.Fatal(err)
			}
			var id atomic.Int64
			b.SetParallelism(5) // 10 goroutines on 2 CPUs
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.RecordSend(ctx, "2026-11-27", id.Add(1), "sent", time.Now()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
		})
	}
}
