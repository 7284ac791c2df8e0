package mailer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/store"
)

// BenchmarkSharedSend sends one edition to 6,000 subscribers with 1, 2
// and 3 instances sharing the job, 10 connections each, through mail
// servers taking 20 ms per message (delay=20ms) or none (the in-process
// server as a sink, delay=0), and reports messages per second and the
// smallest share an instance sent.
//
//	go test -run '^$' -bench SharedSend -benchtime 1x ./mailer
func BenchmarkSharedSend(b *testing.B) {
	for _, delay := range []time.Duration{20 * time.Millisecond, 0} {
		for n := 1; n <= 3; n++ {
			b.Run(fmt.Sprintf("delay=%v/instances=%d", delay, n), func(b *testing.B) {
				const subscribers = 6000
				for range b.N {
					b.StopTimer()
					bn := newBench(b, subscribers)
					ins := bn.instances(b, n, mailer.EngineOptions{Connections: 10, Lease: 5 * time.Second})
					for _, in := range ins {
						in.mail.SetFaults(smtptest.Faults{DataDelay: delay})
					}
					b.StartTimer()
					start := time.Now()
					job := bn.runAll(b, ins)
					took := time.Since(start)
					b.StopTimer()
					if job.Sent != subscribers {
						b.Fatalf("job: %+v", job)
					}
					least := 1.0
					for _, in := range ins {
						least = min(least, float64(len(in.mail.Messages()))/subscribers)
					}
					b.ReportMetric(subscribers/took.Seconds(), "msg/s")
					b.ReportMetric(least, "least-share")
					b.StartTimer()
				}
			})
		}
	}
}

// BenchmarkFailoverProtection sends 6,000 messages on a Sentinel group
// (master and replica) with every ledger write waiting for the replica
// (wait=1) and without (wait=0), to a mail server that answers at once,
// so that the cost of the WAIT shows in messages per second.
//
//	go test -run '^$' -bench FailoverProtection -benchtime 1x ./mailer
func BenchmarkFailoverProtection(b *testing.B) {
	group := redistest.StartSentinel(b)
	rdb := group.Client(b)
	for _, wait := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", wait), func(b *testing.B) {
			const subscribers = 6000
			for i := range b.N {
				b.StopTimer()
				st := store.New(rdb, store.Options{Prefix: fmt.Sprintf("bench%d:%d:", wait, i), WaitReplicas: wait})
				bn := newBenchOn(b, st, subscribers)
				ins := bn.instances(b, 1, mailer.EngineOptions{Connections: 10, Lease: 5 * time.Second})
				b.StartTimer()
				start := time.Now()
				job := bn.runAll(b, ins)
				took := time.Since(start)
				b.StopTimer()
				if job.Sent != subscribers {
					b.Fatalf("job: %+v", job)
				}
				b.ReportMetric(subscribers/took.Seconds(), "msg/s")
				b.StartTimer()
			}
		})
	}
}
