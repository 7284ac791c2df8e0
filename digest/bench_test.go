package digest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkParseTextSample measures reading the bundled sample front page.
func BenchmarkParseTextSample(b *testing.B) {
	b.SetBytes(int64(len(sample)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseText(Sample()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWebSource measures reading a front page from a local HTTP
// server — the HTML page plus its lead article, and each kind of feed —
// and reports the median of 20 reads as median-ms (the figure).
//
//	go test -run '^$' -bench WebSource -benchtime 20x ./digest
func BenchmarkWebSource(b *testing.B) {
	for _, path := range []string{"/front", "/feed.rss", "/feed.atom", "/feed.json"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			s := newSite(b, nil)
			src := WebSource{URL: s.URL + path, Fetcher: testFetcher(FetcherOptions{})}
			var times []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := src.FrontPage(context.Background()); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
		})
	}
}
