package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

// metrics are broadsheet's Prometheus metrics, on a registry of their own
// (no package-level default registry). They meet mailer.SendObserver,
// publish.BuildObserver and web.Metrics.
type metrics struct {
	registry     *prometheus.Registry
	messages     *prometheus.CounterVec
	sendDuration prometheus.Histogram
	builds       *prometheus.CounterVec
	buildTime    prometheus.Histogram
	feedRequests *prometheus.CounterVec
	feedCounters map[feedStatus]prometheus.Counter
	feedback     *prometheus.CounterVec
}

func newMetrics(st *store.Store) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broadsheet_messages_total",
			Help: "Edition mails by result: sent, bounced, failed, retry (a temporary failure), paused (the sender's problem).",
		}, []string{"result"}),
		sendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "broadsheet_message_send_seconds",
			Help:    "Time the mail server took to take one message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broadsheet_builds_total",
			Help: "Edition builds by outcome: created, updated, unchanged, failed.",
		}, []string{"outcome"}),
		buildTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "broadsheet_build_seconds",
			Help:    "Time to read the source and store the edition.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		feedRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broadsheet_feed_requests_total",
			Help: "Feed requests by feed (rss, atom, json) and HTTP status.",
		}, []string{"feed", "status"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "broadsheet_feedback_total",
			Help: "Reports that came back, by kind (hard, soft, complaint, unsubscribe) and source (inbound, mailbox, webhook:<provider>); replays are not counted.",
		}, []string{"kind", "source"}),
	}
	m.feedCounters = map[feedStatus]prometheus.Counter{}
	for _, feed := range []string{"rss", "atom", "json"} {
		for _, status := range []int{200, 304} {
			m.feedCounters[feedStatus{feed, status}] = m.feedRequests.WithLabelValues(feed, strconv.Itoa(status))
		}
	}
	m.registry.MustRegister(m.messages, m.sendDuration, m.builds, m.buildTime, m.feedRequests, m.feedback,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newStoreCollector(st))
	return m
}

func (m *metrics) Message(outcome string, took time.Duration) {
	m.messages.WithLabelValues(outcome).Inc()
	if took > 0 {
		m.sendDuration.Observe(took.Seconds())
	}
}

// Feedback counts a fresh report (feedback.Observer).
func (m *metrics) Feedback(kind, source string) { m.feedback.WithLabelValues(kind, source).Inc() }

func (m *metrics) Build(outcome string, took time.Duration) {
	m.builds.WithLabelValues(outcome).Inc()
	m.buildTime.Observe(took.Seconds())
}

// FeedRequest counts a feed request. It is on the feed's hot path: the
// usual answers' counters are looked up once, in newMetrics.
func (m *metrics) FeedRequest(feed string, status int) {
	if c, ok := m.feedCounters[feedStatus{feed, status}]; ok {
		c.Inc()
		return
	}
	m.feedRequests.WithLabelValues(feed, strconv.Itoa(status)).Inc()
}

type feedStatus struct {
	feed   string
	status int
}

func (m *metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// storeCollector reads the gauges kept in Redis when Prometheus scrapes:
// subscribers by status, and the messages still to send (queue depth).
type storeCollector struct {
	st                         *store.Store
	subscribersDesc, queueDesc *prometheus.Desc
}

func newStoreCollector(st *store.Store) *storeCollector {
	return &storeCollector{st: st,
		subscribersDesc: prometheus.NewDesc("broadsheet_subscribers", "Subscribers by status.", []string{"status"}, nil),
		queueDesc:       prometheus.NewDesc("broadsheet_send_queue", "Messages still to send, by edition being sent.", []string{"edition"}, nil),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.subscribersDesc
	ch <- c.queueDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.st.CountSubscribers(ctx); err == nil {
		for _, s := range digest.Statuses {
			ch <- prometheus.MustNewConstMetric(c.subscribersDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	if eds, err := c.st.PendingSendJobs(ctx); err == nil {
		for _, e := range eds {
			if job, err := c.st.SendJob(ctx, e); err == nil {
				ch <- prometheus.MustNewConstMetric(c.queueDesc, prometheus.GaugeValue, float64(job.Remaining()), e)
			}
		}
	}
}
