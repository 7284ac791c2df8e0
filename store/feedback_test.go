package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

func TestRecordFeedback(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := func(id int64, kind, edition string, at time.Time) digest.FeedbackEvent {
		return digest.FeedbackEvent{Subscriber: id, Email: fmt.Sprintf("r%d@example.org", id), Edition: edition, Kind: kind,
			Diagnostic: "Status 4.0.0", Source: "inbound", At: at}
	}
	window := 15 * 24 * time.Hour
	// Three soft bounces of subscriber 1 for three editions; the same
	// report again is not fresh and not counted twice.
	for i, day := range []string{"2026-11-25", "2026-11-26", "2026-11-26", "2026-11-27"} {
		fresh, soft, err := s.RecordFeedback(ctx, ev(1, "soft", day, now.Add(time.Duration(i)*time.Second)), day, window)
		if err != nil {
			t.Fatal(err)
		}
		wantFresh, wantSoft := i != 2, []int{1, 2, 2, 3}[i]
		if fresh != wantFresh || soft != wantSoft {
			t.Errorf("report %d: fresh %v soft %d, want %v %d", i, fresh, soft, wantFresh, wantSoft)
		}
	}
	// A soft bounce older than the window is not counted later; those of
	// another subscriber are not either.
	if _, soft, _ := s.RecordFeedback(ctx, ev(2, "soft", "2026-10-01", now.Add(-20*24*time.Hour)), "2026-10-01", window); soft != 1 {
		t.Errorf("an old soft bounce counts %d at its time", soft)
	}
	if _, soft, _ := s.RecordFeedback(ctx, ev(2, "soft", "2026-11-27", now), "2026-11-27", window); soft != 1 {
		t.Errorf("subscriber 2 has %d soft bounces in the window, want 1", soft)
	}
	if fresh, _, _ := s.RecordFeedback(ctx, ev(2, "complaint", "2026-11-27", now), "2026-11-27", window); !fresh {
		t.Error("a complaint about a soft-bounced edition is not fresh")
	}

	recent, err := s.RecentFeedback(ctx, 1)
	if err != nil || len(recent) != 3 || recent[0].Edition != "2026-11-27" || recent[0].Kind != "soft" || !recent[0].At.Equal(now.Add(3*time.Second)) {
		t.Fatalf("recent: %+v %v", recent, err)
	}

	all, next, err := s.FeedbackEvents(ctx, "", "", 100)
	if err != nil || len(all) != 6 || next != "" {
		t.Fatalf("events: %d %q %v", len(all), next, err)
	}
	if all[0].Kind != "complaint" || all[0].Subscriber != 2 || all[len(all)-1].Edition != "2026-11-25" {
		t.Errorf("not newest first: %+v", all)
	}
	// Pages of two, by kind.
	var got []digest.FeedbackEvent
	cursor := ""
	for {
		page, next, err := s.FeedbackEvents(ctx, "soft", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != 5 {
		t.Errorf("soft events paged: %d, want 5", len(got))
	}
	if _, _, err := s.FeedbackEvents(ctx, "", "nonsense", 2); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, _, err := s.RecordFeedback(ctx, digest.FeedbackEvent{Kind: "soft"}, "x", window); err == nil {
		t.Error("an event without a subscriber was kept")
	}
	// Subscriber 0 (no one) is refused as a bad event, though every other
	// field is fine, and nothing is kept.
	if _, _, err := s.RecordFeedback(ctx, ev(0, "soft", "2026-11-28", now), "2026-11-28", window); err == nil || !strings.Contains(err.Error(), "bad event") {
		t.Errorf("an event of subscriber 0: %v, want a bad-event refusal", err)
	}
	if after, _, _ := s.FeedbackEvents(ctx, "", "", 100); len(after) != len(all) {
		t.Errorf("events after refusing subscriber 0: %d, want %d", len(after), len(all))
	}
}

func TestEditionFeedback(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	for _, o := range []string{"bounced", "bounced", "complained"} {
		if err := s.CountEditionFeedback(ctx, "2026-11-27", o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CountEditionFeedback(ctx, "", "bounced"); err != nil {
		t.Fatal(err)
	}
	b, c, err := s.EditionFeedback(ctx, "2026-11-27")
	if err != nil || b != 2 || c != 1 {
		t.Errorf("got %d %d %v, want 2 1", b, c, err)
	}
	if b, c, _ := s.EditionFeedback(ctx, "2026-11-26"); b != 0 || c != 0 {
		t.Errorf("another edition: %d %d", b, c)
	}
}

// TestFeedbackEventsScanLimit: one call looks at 10,000 events at most, as
// FeedbackEvents says. A complaint behind exactly 10,000 newer soft
// bounces gives an empty page with a cursor, and the next page finds it.
func TestFeedbackEventsScanLimit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	rec := func(i int, kind string) error {
		ev := digest.FeedbackEvent{Subscriber: int64(i%50 + 1), Email: "r@example.org", Kind: kind, Source: "inbound",
			At: at.Add(time.Duration(i) * time.Millisecond)}
		_, _, err := s.RecordFeedback(ctx, ev, fmt.Sprint(i), time.Hour)
		return err
	}
	if err := rec(0, "complaint"); err != nil {
		t.Fatal(err)
	}
	// The soft bounces from 8 writers at once (order does not matter: all
	// are newer than the complaint), to keep the test short.
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := 1 + w; i <= 10_000; i += 8 {
				if err := rec(i, "soft"); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	page, next, err := s.FeedbackEvents(ctx, "complaint", "", 10)
	if err != nil || len(page) != 0 || next == "" {
		t.Fatalf("first page: %d events, next %q, %v; want none and a cursor after 10,000 looked at", len(page), next, err)
	}
	page, next, err = s.FeedbackEvents(ctx, "complaint", next, 10)
	if err != nil || len(page) != 1 || page[0].Kind != "complaint" || next != "" {
		t.Fatalf("second page: %+v, next %q, %v; want the complaint and the end", page, next, err)
	}
}
