package publish_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feeds"
	"github.com/broadsheet-news/broadsheet/templates"
)

// BenchmarkSampleEdition measures reading the bundled sample front page,
// building its edition and rendering the three feeds (one edition).
func BenchmarkSampleEdition(b *testing.B) {
	pages, err := templates.New()
	if err != nil {
		b.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.com/")
	meta := feeds.Meta{Title: "Daily Brief", BaseURL: base, ID: "tag:news.example.com,2026-11-27:feed"}
	published := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		page, err := digest.ParseText(digest.Sample())
		if err != nil {
			b.Fatal(err)
		}
		e, err := digest.Build("2026-11-27", page)
		if err != nil {
			b.Fatal(err)
		}
		e.FeedID, e.Published, e.Updated = digest.TagURI("news.example.com", e.ID), published, published
		if _, err := feeds.Render(meta, []digest.Edition{e}, pages); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderFeeds30 measures rendering full feeds: 30 editions of the
// sample's size, as a server does after every change.
func BenchmarkRenderFeeds30(b *testing.B) {
	pages, err := templates.New()
	if err != nil {
		b.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.com/")
	meta := feeds.Meta{Title: "Daily Brief", BaseURL: base, ID: "tag:news.example.com,2026-11-27:feed"}
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		b.Fatal(err)
	}
	day := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	editions := make([]digest.Edition, 30)
	for i := range editions {
		t := day.AddDate(0, 0, -i)
		e, err := digest.Build(t.Format(digest.DayLayout), page)
		if err != nil {
			b.Fatal(err)
		}
		e.FeedID, e.Published, e.Updated = digest.TagURI("news.example.com", e.ID), t, t
		editions[i] = e
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := feeds.Render(meta, editions, pages); err != nil {
			b.Fatal(err)
		}
	}
}
