package publish_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/templates"
)

// clock is a test clock that a save waiting for the next second moves on.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(300 * time.Millisecond) // time passes between calls
	return c.now
}

type textSource string

func (s textSource) FrontPage(context.Context) (digest.FrontPage, error) {
	return digest.ParseText(strings.NewReader(string(s)))
}
func (s textSource) String() string { return "test source" }

func newPublisher(t *testing.T, c *clock) (*publish.Publisher, *store.Store) {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, store.Options{Prefix: prefix})
	pages, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.com/")
	loc, _ := time.LoadLocation("Asia/Tokyo")
	return publish.New(st, pages, publish.Config{Title: "T", BaseURL: base, Location: loc}, c.Now, slog.New(slog.DiscardHandler)), st
}

func TestBuildUsesTheZoneAndWaitsForTheNextSecond(t *testing.T) {
	ctx := context.Background()
	// 23:30 UTC is already the next day in Tokyo.
	c := &clock{now: time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)}
	pub, _ := newPublisher(t, c)
	res, err := pub.Build(ctx, textSource("One headline here\nTwo headlines here\nWorld\n\nLead One\nText.\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Edition.ID != "2026-11-28" || res.Outcome != digest.Created || res.Edition.FeedID != "tag:news.example.com,2026-11-28:edition" {
		t.Errorf("first build: %+v", res)
	}
	// A change within the same second: the publisher waits and saves in
	// the next one.
	start := time.Now()
	res2, err := pub.Build(ctx, textSource("One headline here\nTwo headlines here\nWorld\n\nLead Two\nText.\n"), "2026-11-28")
	if err != nil {
		t.Fatal(err)
	}
	if res2.Outcome != digest.Changed || res2.Edition.Updated.Unix() <= res.Edition.Updated.Unix() {
		t.Errorf("second build: %v, updated %v after %v", res2.Outcome, res2.Edition.Updated, res.Edition.Updated)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("the retry took %v", time.Since(start))
	}
}

func TestBuildRefusesBadSources(t *testing.T) {
	pub, _ := newPublisher(t, &clock{now: time.Now()})
	_, err := pub.Build(context.Background(), textSource(""), "2026-11-27")
	if !digest.IsSourceError(err) {
		t.Errorf("an empty source: %v, want a SourceError", err)
	}
}

func TestSiteServesSnapshotAndFallsBackToTheStore(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Date(2026, 1, 1, 6, 0, 0, 0, time.UTC)}
	pub, _ := newPublisher(t, c)
	site := publish.NewSite(pub, nil, slog.New(slog.DiscardHandler))
	if site.Current().Feeds != nil || site.Current().LatestEdition() != nil {
		t.Fatal("a new site is not empty")
	}
	for i := range 32 {
		day := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(digest.DayLayout)
		c.mu.Lock()
		c.now = c.now.Add(2 * time.Second)
		c.mu.Unlock()
		if _, err := pub.Build(ctx, textSource("Headline for the day "+day+"\n"), day); err != nil {
			t.Fatal(err)
		}
	}
	if err := site.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	snap := site.Current()
	if len(snap.Latest) != 30 || len(snap.Archive) != 32 || snap.LatestEdition().ID != "2026-01-01" || snap.Feeds == nil {
		t.Fatalf("snapshot: %d latest, %d archived, latest %v", len(snap.Latest), len(snap.Archive), snap.LatestEdition())
	}
	// The two oldest are not in the snapshot: read from the store.
	e, err := site.Edition(ctx, "2025-12-01")
	if err != nil || e.Page.Headlines[0].Title != "Headline for the day 2025-12-01" {
		t.Errorf("an edition older than the snapshot: %+v %v", e, err)
	}
	if _, err := site.Edition(ctx, "2020-01-01"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("an unknown edition: %v", err)
	}
}

// TestBuildDayBounds: days from 1970 up to tomorrow (in the zone) are
// built; others are refused with ErrDayOutOfRange, reading nothing.
func TestBuildDayBounds(t *testing.T) {
	// 23:30 UTC on the 27th is the 28th in Tokyo: tomorrow is the 29th.
	pub, _ := newPublisher(t, &clock{now: time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC)})
	src := textSource("One headline here\n")
	for day, ok := range map[string]bool{"2026-11-29": true, "1970-01-01": true, "2026-11-30": false, "1969-12-31": false, "9999-12-31": false} {
		_, err := pub.Build(context.Background(), src, day)
		if ok && err != nil {
			t.Errorf("%s refused: %v", day, err)
		}
		if !ok && !errors.Is(err, publish.ErrDayOutOfRange) {
			t.Errorf("%s: %v, want ErrDayOutOfRange", day, err)
		}
	}
	if err := pub.CheckDay("2026-11-30"); err == nil || err.Error() != "2026-11-30 is after tomorrow (2026-11-29 in Asia/Tokyo)" {
		t.Errorf("the refusal says %q", err)
	}
}

// TestPublishedIsTheDaysScheduledTime: an edition is published at its
// day's scheduled time, whenever it was built; today's, built before that
// time, at its build time.
func TestPublishedIsTheDaysScheduledTime(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, store.Options{Prefix: prefix})
	pages, _ := templates.New()
	base, _ := url.Parse("https://news.example.com/")
	loc, _ := time.LoadLocation("Europe/Paris")
	schedule, err := cron.ParseStandard("30 6 * * *")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)} // 05:00 in Paris
	pub := publish.New(st, pages, publish.Config{Title: "T", BaseURL: base, Location: loc, Schedule: schedule}, c.Now, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	past, err := pub.Build(ctx, textSource("A past headline\n"), "2026-11-20")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 20, 6, 30, 0, 0, loc); !past.Edition.Published.Equal(want) {
		t.Errorf("a past day published %v, want %v", past.Edition.Published, want)
	}
	if !past.Edition.Updated.After(past.Edition.Published) {
		t.Errorf("updated %v is not the build time", past.Edition.Updated)
	}
	today, err := pub.Build(ctx, textSource("Today's headline\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if p := today.Edition.Published; p.After(time.Date(2026, 11, 27, 4, 1, 0, 0, time.UTC)) || !p.After(past.Edition.Published) {
		t.Errorf("today's edition, built before its scheduled time, published %v", p)
	}
}
