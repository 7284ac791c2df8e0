package feedback_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// BenchmarkListenerReports measures reports per second through the
// inbound listener: 8 or 32 connections, each sending DSNs (a soft bounce for a
// different subscriber each time, so every report is read, verified,
// recorded and counted in Redis) one after the other.
//
//	go test -run '^$' -bench ListenerReports -benchtime 5000x ./feedback
func BenchmarkListenerReports(b *testing.B) {
	for _, conns := range []int{8, 32} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchReports(b, conns) })
	}
}

func benchReports(b *testing.B, conns int) {
	w := newWorld(b, 2000)
	day := "2026-11-27"
	msgs := make([][]byte, len(w.emails))
	rcpts := make([]string, len(w.emails))
	for i, email := range w.emails {
		rcpts[i] = w.addrs.ReturnPath(int64(i+1), day)
		msgs[i] = dsnFor(b, rcpts[i], email, "4.0.0")
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c, err := smtp.Dial(w.inbound)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			for {
				n := int(next.Add(1)) - 1
				if n >= b.N {
					return
				}
				i := n % len(msgs)
				if err := c.SendMail("", []string{rcpts[i]}, bytes.NewReader(msgs[i])); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reports/s")
	if evs, _, _ := w.store.FeedbackEvents(context.Background(), "soft", "", 1); b.N > 0 && len(evs) == 0 {
		b.Fatal("no report was kept")
	}
}
