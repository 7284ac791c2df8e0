package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

func newStore(t *testing.T, keep int) *store.Store {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	return store.New(rdb, store.Options{Prefix: prefix, KeepEditions: keep, WaitReplicas: redistest.Replicas()})
}

func edition(t *testing.T, day, lead string) digest.Edition {
	t.Helper()
	e, err := digest.Build(day, digest.FrontPage{
		Headlines: []digest.Headline{{Title: "A headline for " + day}},
		Lead:      &digest.Lead{Title: lead, Blocks: []digest.Block{{Type: digest.Paragraph, Text: "Body of " + lead + "."}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.FeedID = digest.TagURI("news.example.com", day)
	return e
}

func TestSaveEditionLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	t1 := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)

	first, outcome, err := s.SaveEdition(ctx, edition(t, "2026-11-27", "Lead one"), t1)
	if err != nil {
		t.Fatal(err)
	}
	if outcome != digest.Created {
		t.Errorf("first save: got %v, want created", outcome)
	}
	if !first.Published.Equal(t1) || !first.Updated.Equal(t1) {
		t.Errorf("first save times: published %v updated %v, want %v", first.Published, first.Updated, t1)
	}
	if got, want := first.FeedID, "tag:news.example.com,2026-11-27:edition"; got != want {
		t.Errorf("feed id: got %q, want %q", got, want)
	}

	// Same content later: nothing changes.
	same, outcome, err := s.SaveEdition(ctx, edition(t, "2026-11-27", "Lead one"), t1.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if outcome != digest.Unchanged || !same.Updated.Equal(t1) || same.Hash != first.Hash {
		t.Errorf("same content: outcome %v, updated %v; want unchanged at %v", outcome, same.Updated, t1)
	}

	// New content: id, feed id and published stay; updated and content change.
	changed := edition(t, "2026-11-27", "Lead two")
	changed.FeedID = "tag:other.example.org,2026-11-27:edition" // ignored: the day exists
	t2 := t1.Add(2 * time.Hour)
	got, outcome, err := s.SaveEdition(ctx, changed, t2)
	if err != nil {
		t.Fatal(err)
	}
	if outcome != digest.Changed {
		t.Errorf("new content: got %v, want updated", outcome)
	}
	if got.FeedID != first.FeedID || !got.Published.Equal(t1) || !got.Updated.Equal(t2) {
		t.Errorf("new content: feed id %q published %v updated %v", got.FeedID, got.Published, got.Updated)
	}
	if got.Title() != "Lead two" || got.Hash == first.Hash {
		t.Errorf("new content not stored: title %q", got.Title())
	}

	// The stored edition reads back equal.
	read, err := s.Edition(ctx, "2026-11-27")
	if err != nil {
		t.Fatal(err)
	}
	if read.Hash != got.Hash || read.Page.Hash() != got.Hash {
		t.Errorf("read back hash %s, page hash %s, want %s", read.Hash, read.Page.Hash(), got.Hash)
	}
}

// TestSaveEditionPublishedIsGiven: a day first stored with a published
// time keeps it (a past day's edition is dated on its day, not when it
// was built); updated is the build time.
func TestSaveEditionPublishedIsGiven(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	e := edition(t, "2026-11-20", "Past")
	e.Published = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	built := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	got, _, err := s.SaveEdition(ctx, e, built)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Published.Equal(e.Published) || !got.Updated.Equal(built) || !got.Created.Equal(built) {
		t.Errorf("published %v updated %v, want %v and %v", got.Published, got.Updated, e.Published, built)
	}
}

func TestEditionNotFound(t *testing.T) {
	s := newStore(t, 10)
	_, err := s.Edition(context.Background(), "2001-01-01")
	if !errors.Is(err, store.ErrNotFound) || !errors.Is(err, digest.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestLatestAndArchiveNewestFirstAndBounded(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 5)
	now := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	// Saved out of order: the index orders by day, not by save time.
	for i, d := range []int{3, 1, 7, 2, 6, 4, 5} {
		day := fmt.Sprintf("2026-11-%02d", d)
		if _, _, err := s.SaveEdition(ctx, edition(t, day, "Lead "+day), now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestEditions(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range latest {
		ids = append(ids, e.ID)
	}
	if got, want := fmt.Sprint(ids), "[2026-11-07 2026-11-06 2026-11-05]"; got != want {
		t.Errorf("latest: got %s, want %s", got, want)
	}
	archive, err := s.Archive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids = ids[:0]
	for _, a := range archive {
		ids = append(ids, a.ID)
		if a.Title != "Lead "+a.ID {
			t.Errorf("archive title of %s: %q", a.ID, a.Title)
		}
	}
	// Keep is 5: the two oldest days are gone, index and content alike.
	if got, want := fmt.Sprint(ids), "[2026-11-07 2026-11-06 2026-11-05 2026-11-04 2026-11-03]"; got != want {
		t.Errorf("archive: got %s, want %s", got, want)
	}
	if _, err := s.Edition(ctx, "2026-11-01"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("trimmed edition still readable: %v", err)
	}
}

func TestFeedIDIsMintedOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	first, err := s.FeedID(ctx, "tag:a.example,2026-11-27:feed")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.FeedID(ctx, "tag:b.example,2027-01-01:feed")
	if err != nil {
		t.Fatal(err)
	}
	if first != "tag:a.example,2026-11-27:feed" || second != first {
		t.Errorf("got %q then %q; want the first candidate both times", first, second)
	}
}

func TestVersionAndWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newStore(t, 10)
	v0, err := s.Version(ctx)
	if err != nil || v0 != 0 {
		t.Fatalf("version of an empty store: %d, %v", v0, err)
	}
	var calls atomic.Int32
	changed := make(chan struct{}, 10)
	go s.WatchEditions(ctx, time.Hour, func() { calls.Add(1); changed <- struct{}{} })

	// The subscription starts asynchronously: save until the watcher hears.
	now := time.Now()
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		now = now.Add(time.Second)
		if _, _, err := s.SaveEdition(ctx, edition(t, "2026-11-27", fmt.Sprint("Lead ", i)), now); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			v, _ := s.Version(ctx)
			if v < 1 {
				t.Errorf("version after a save: %d", v)
			}
			// An unchanged save announces nothing.
			before := calls.Load()
			if _, _, err := s.SaveEdition(ctx, edition(t, "2026-11-27", fmt.Sprint("Lead ", i)), now); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if calls.Load() != before {
				t.Error("an unchanged save was announced")
			}
			return
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("the watcher heard of no change within 5s")
		}
	}
}

func TestSaveRejectsBadDay(t *testing.T) {
	s := newStore(t, 10)
	e := edition(t, "2026-11-27", "x")
	e.ID = "../../etc"
	if _, _, err := s.SaveEdition(context.Background(), e, time.Now()); err == nil {
		t.Fatal("a bad edition id was stored")
	}
}

// TestChangesAreASecondApart: a change within the second of the previous
// one is refused with the wait, so feeds' Last-Modified (whole seconds)
// moves with every change.
func TestChangesAreASecondApart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	t0 := time.Date(2026, 11, 27, 6, 0, 0, 200_000_000, time.UTC)
	if _, _, err := s.SaveEdition(ctx, edition(t, "2026-11-26", "One"), t0); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.SaveEdition(ctx, edition(t, "2026-11-27", "Two"), t0.Add(300*time.Millisecond))
	var tooSoon *store.TooSoonError
	if !errors.As(err, &tooSoon) || tooSoon.RetryAfter() != 500*time.Millisecond {
		t.Fatalf("a change 300ms after another: got %v, want TooSoonError waiting 500ms", err)
	}
	if _, err := s.Edition(ctx, "2026-11-27"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused change was stored: %v", err)
	}
	// Unchanged saves are not changes: never refused.
	if _, outcome, err := s.SaveEdition(ctx, edition(t, "2026-11-26", "One"), t0.Add(time.Millisecond)); err != nil || outcome != digest.Unchanged {
		t.Errorf("an unchanged save in the same second: %v, %v", outcome, err)
	}
	if _, outcome, err := s.SaveEdition(ctx, edition(t, "2026-11-27", "Two"), t0.Add(800*time.Millisecond)); err != nil || outcome != digest.Created {
		t.Errorf("a change in the next second: %v, %v", outcome, err)
	}
	// A clock far behind the last change (another instance's) is not made
	// to wait more than a second.
	if _, _, err := s.SaveEdition(ctx, edition(t, "2026-11-25", "Zero"), t0.Add(-time.Hour)); err != nil {
		t.Errorf("a change from a clock an hour behind: %v", err)
	}
}

func TestSaveRefusesADayOutsideTheWindow(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 2)
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for i, day := range []string{"2026-11-26", "2026-11-27"} {
		if _, _, err := s.SaveEdition(ctx, edition(t, day, "x"+day), now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := s.SaveEdition(ctx, edition(t, "2020-01-01", "old"), now.Add(5*time.Second))
	if !errors.Is(err, store.ErrOutsideWindow) {
		t.Fatalf("a day older than the window: %v", err)
	}
	archive, _ := s.Archive(ctx)
	if len(archive) != 2 || archive[1].ID != "2026-11-26" {
		t.Errorf("the refusal changed the archive: %+v", archive)
	}
	// A newer day still goes in, pushing the oldest out.
	if _, _, err := s.SaveEdition(ctx, edition(t, "2026-11-28", "new"), now.Add(10*time.Second)); err != nil {
		t.Errorf("a newer day: %v", err)
	}
	archive, _ = s.Archive(ctx)
	if len(archive) != 2 || archive[0].ID != "2026-11-28" || archive[1].ID != "2026-11-27" {
		t.Errorf("after a newer day, the archive is %+v, want 2026-11-28 and 2026-11-27", archive)
	}
	if _, err := s.Edition(ctx, "2026-11-26"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the oldest edition was not pushed out: %v", err)
	}
}
