package publish_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Four builds of one day at once, from a real web source: one fetch, and
// every caller gets the edition.
func TestConcurrentBuildsOfADayShareOneFetch(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release // hold every request until all four builds have started
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write([]byte(feedXML))
	}))
	defer site.Close()
	src := digest.WebSource{URL: site.URL + "/feed.xml",
		Fetcher: digest.NewFetcher(digest.FetcherOptions{UserAgent: "test", AllowPrivate: true, Retries: -1})}
	c := &clock{now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	pub, _ := newPublisher(t, c)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	started := make(chan struct{}, 4)
	for range 4 {
		wg.Go(func() {
			started <- struct{}{}
			res, err := pub.Build(context.Background(), src, "2026-11-27")
			if err == nil && len(res.Edition.Page.Headlines) != 2 {
				t.Errorf("a shared build gave %d headlines", len(res.Edition.Page.Headlines))
			}
			errs <- err
		})
	}
	for range 4 {
		<-started
	}
	time.Sleep(200 * time.Millisecond) // the four are waiting on the one fetch
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("build: %v", err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the source was fetched %d times for four concurrent builds, want 1", n)
	}
}

const feedXML = `<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title><link>https://example.org/</link>
<item><title>First headline here</title><link>https://example.org/1</link><pubDate>Fri, 27 Nov 2026 07:00:00 GMT</pubDate>
<content:encoded><![CDATA[<p>A paragraph of the lead, long enough to be one.</p>]]></content:encoded></item>
<item><title>Second headline here</title><link>https://example.org/2</link><pubDate>Fri, 27 Nov 2026 06:00:00 GMT</pubDate></item>
</channel></rss>`
