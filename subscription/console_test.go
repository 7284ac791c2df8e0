package subscription_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// TestSearch: the console's search finds addresses by prefix, in any case
// and with spaces around it, filters by status, says when more match than
// it shows, and fills in each subscriber's consent record; a bad status or
// a prefix longer than any address is a field error.
func TestSearch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	for _, e := range []string{"ann@example.com", "anna@example.com", "annette@example.com", "bob@example.com"} {
		if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: e, Status: digest.Active, Consent: "consent of " + e}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "annie@example.com"}); err != nil { // pending
		t.Fatal(err)
	}

	page, more, err := f.svc.Search(ctx, "  ANN ", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range page {
		got = append(got, s.Email)
		if s.Status == digest.Active && s.Consent.Text != "consent of "+s.Email {
			t.Errorf("%s: consent %+v, want its record filled in", s.Email, s.Consent)
		}
	}
	if want := "ann@example.com anna@example.com annette@example.com annie@example.com"; strings.Join(got, " ") != want || more {
		t.Errorf("search ann: %q more=%v, want %q and no more", got, more, want)
	}

	page, more, err = f.svc.Search(ctx, "ann", digest.Pending, 10)
	if err != nil || len(page) != 1 || page[0].Email != "annie@example.com" || more {
		t.Errorf("search pending ann: %+v more=%v %v", page, more, err)
	}
	page, more, err = f.svc.Search(ctx, "ann", digest.Active, 2)
	if err != nil || len(page) != 2 || !more {
		t.Errorf("search active ann, 2 at most: %d found, more=%v %v; want 2 and more", len(page), more, err)
	}

	var fe *subscription.FieldError
	if _, _, err := f.svc.Search(ctx, "ann", "gone", 10); !errors.As(err, &fe) || fe.Field != "status" {
		t.Errorf("a bad status: %v, want a field error on status", err)
	}
	longest := strings.Repeat("a", digest.MaxEmailLength)
	if page, _, err := f.svc.Search(ctx, " "+longest+" ", "", 10); err != nil || len(page) != 0 {
		t.Errorf("a prefix as long as the longest address: %+v %v, want no match and no error", page, err)
	}
	if _, _, err := f.svc.Search(ctx, longest+"a", "", 10); !errors.As(err, &fe) || fe.Field != "q" {
		t.Errorf("a prefix longer than any address: %v, want a field error on q", err)
	}
}

// TestActiveHistory: RecordActive samples the number of active
// subscribers (a day's last sample wins); ActiveHistory gives the days
// asked for, oldest first, ending with the day given, and marks the days
// that have no sample.
func TestActiveHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	add := func(email string, status digest.SubscriberStatus) {
		t.Helper()
		if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	add("a1@example.com", digest.Active)
	add("p1@example.com", digest.Pending) // not counted
	if err := f.svc.RecordActive(ctx, "2026-11-24"); err != nil {
		t.Fatal(err)
	}
	add("a2@example.com", digest.Active)
	if err := f.svc.RecordActive(ctx, "2026-11-26"); err != nil {
		t.Fatal(err)
	}
	add("a3@example.com", digest.Active)
	if err := f.svc.RecordActive(ctx, "2026-11-26"); err != nil { // later the same day
		t.Fatal(err)
	}

	got, err := f.svc.ActiveHistory(ctx, "2026-11-27", 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []subscription.DayCount{
		{Day: "2026-11-23"},
		{Day: "2026-11-24", Active: 1, Known: true},
		{Day: "2026-11-25"},
		{Day: "2026-11-26", Active: 3, Known: true},
		{Day: "2026-11-27"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d days, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("day %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if one, err := f.svc.ActiveHistory(ctx, "2026-11-24", 1); err != nil || len(one) != 1 || one[0] != want[1] {
		t.Errorf("one day: %+v %v, want %+v", one, err, want[1])
	}
	// Across a month's end.
	if span, err := f.svc.ActiveHistory(ctx, "2026-12-01", 3); err != nil || len(span) != 3 ||
		span[0].Day != "2026-11-29" || span[2].Day != "2026-12-01" {
		t.Errorf("across a month: %+v %v", span, err)
	}
	if _, err := f.svc.ActiveHistory(ctx, "27/11/2026", 5); err == nil {
		t.Error("a day not in YYYY-MM-DD form was taken")
	}
}

// TestRunActiveCounter samples the active count while it runs, naming the
// day today gives, and returns when its context ends.
func TestRunActiveCounter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "a@example.com", Status: digest.Active}); err != nil {
		t.Fatal(err)
	}
	run, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		f.svc.RunActiveCounter(run, 5*time.Millisecond, func() string { return "2026-11-27" })
		close(done)
	}()
	var day subscription.DayCount
	for deadline := time.Now().Add(10 * time.Second); !day.Known && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		h, err := f.svc.ActiveHistory(ctx, "2026-11-27", 1)
		if err != nil {
			t.Fatal(err)
		}
		day = h[0]
	}
	cancel()
	<-done
	if !day.Known || day.Active != 1 {
		t.Errorf("after RunActiveCounter: %+v, want 1 active recorded", day)
	}
}
