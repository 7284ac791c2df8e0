package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	now := time.Now()
	if err := s.CreateSession(ctx, "cookie-a", "csrf-a", time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if csrf, err := s.Session(ctx, "cookie-a"); err != nil || csrf != "csrf-a" {
		t.Fatalf("Session: %q %v", csrf, err)
	}
	if _, err := s.Session(ctx, "cookie-b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "cookie-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "cookie-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session after logout: %v, want ErrNotFound", err)
	}
	// Sessions expire.
	if err := s.CreateSession(ctx, "short", "x", 50*time.Millisecond, now); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	if _, err := s.Session(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
}

// TestSessionsBounded: past 1000 sessions the oldest goes.
func TestSessionsBounded(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	now := time.Now()
	for i := range 1001 {
		if err := s.CreateSession(ctx, fmt.Sprint("c", i), "x", time.Hour, now.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Session(ctx, "c0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the oldest of 1001 sessions is still there: %v", err)
	}
	for _, id := range []string{"c1", "c1000"} {
		if _, err := s.Session(ctx, id); err != nil {
			t.Errorf("session %s: %v", id, err)
		}
	}
}

func TestLoginFailures(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	for i := 1; i <= 3; i++ {
		if n, err := s.AddLoginFailure(ctx, "192.0.2.1", 10*time.Second, 5); err != nil || n != int64(i) {
			t.Fatalf("failure %d counted %d %v", i, n, err)
		}
	}
	n, left, err := s.LoginFailures(ctx, "192.0.2.1")
	if err != nil || n != 3 || left <= 0 || left > 10*time.Second {
		t.Errorf("LoginFailures = %d, %v, %v; want 3 within the window", n, left, err)
	}
	if n, _, _ := s.LoginFailures(ctx, "192.0.2.2"); n != 0 {
		t.Errorf("another IP has %d failures", n)
	}
	// The window ends.
	_, _ = s.AddLoginFailure(ctx, "192.0.2.4", 20*time.Millisecond, 5)
	time.Sleep(100 * time.Millisecond)
	if n, _, _ := s.LoginFailures(ctx, "192.0.2.4"); n != 0 {
		t.Errorf("%d failures after the window ended", n)
	}
	// The limit-th failure starts the window again; the ones before do not.
	for range 4 {
		_, _ = s.AddLoginFailure(ctx, "192.0.2.3", 10*time.Second, 5)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, left, _ := s.LoginFailures(ctx, "192.0.2.3"); left > 9*time.Second {
		t.Errorf("a failure below the limit restarted the window: %v left", left)
	}
	_, _ = s.AddLoginFailure(ctx, "192.0.2.3", 10*time.Second, 5)
	if n, left, _ := s.LoginFailures(ctx, "192.0.2.3"); n != 5 || left < 9500*time.Millisecond {
		t.Errorf("after the limit-th failure: %d failures, %v left; want 5 and a new 10s window", n, left)
	}
}

func TestDailyActiveKeepsLatestDays(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 410 {
		if err := s.RecordDailyActive(ctx, day.AddDate(0, 0, i).Format(time.DateOnly), int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordDailyActive(ctx, day.AddDate(0, 0, 409).Format(time.DateOnly), 7); err != nil {
		t.Fatal(err)
	}
	got, err := s.DailyActive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 {
		t.Errorf("%d days kept, want 400", len(got))
	}
	if _, ok := got["2025-01-10"]; ok {
		t.Error("the oldest days were not dropped")
	}
	if got[day.AddDate(0, 0, 409).Format(time.DateOnly)] != 7 {
		t.Error("a second sample of a day did not replace the first")
	}
	if got[day.AddDate(0, 0, 10).Format(time.DateOnly)] != 10 {
		t.Errorf("day 10: %d", got["2025-01-11"])
	}
}

func TestSearchSubscribers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 0)
	add := func(email string, st digest.SubscriberStatus) {
		t.Helper()
		if _, _, err := s.AddSubscriber(ctx, digest.Subscriber{Email: email, Status: st, Format: digest.FormatHTML}, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		add(fmt.Sprintf("ann%02d@example.com", i), digest.Active)
	}
	add("anna@example.org", digest.Pending)
	add("bob@example.com", digest.Active)
	add("a*b@example.com", digest.Active)
	add("a[x]@example.com", digest.Active)

	emails := func(subs []digest.Subscriber) []string {
		out := make([]string, len(subs))
		for i, s := range subs {
			out[i] = s.Email
		}
		return out
	}
	got, more, err := s.SearchSubscribers(ctx, "ANN", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || !more || got[0].Email != "ann00@example.com" || got[9].Email != "ann09@example.com" {
		t.Errorf("ann, 10: %v more=%v", emails(got), more)
	}
	// No limit, or a negative one, is the default 50.
	for _, limit := range []int{0, -1} {
		if got, more, err := s.SearchSubscribers(ctx, "ann", "", limit); err != nil || len(got) != 31 || more {
			t.Errorf("ann, limit %d: %d found, more=%v, %v; want all 31", limit, len(got), more, err)
		}
	}
	got, more, _ = s.SearchSubscribers(ctx, "ann", digest.Pending, 10)
	if len(got) != 1 || more || got[0].Email != "anna@example.org" || got[0].ID == 0 {
		t.Errorf("ann, pending: %+v more=%v", got, more)
	}
	// Pattern characters are literal.
	if got, _, _ := s.SearchSubscribers(ctx, "a*", "", 10); len(got) != 1 || got[0].Email != "a*b@example.com" {
		t.Errorf("a*: %v", emails(got))
	}
	if got, _, _ := s.SearchSubscribers(ctx, "a[x", "", 10); len(got) != 1 || got[0].Email != "a[x]@example.com" {
		t.Errorf("a[x: %v", emails(got))
	}
	if got, more, _ := s.SearchSubscribers(ctx, "zed", "", 10); len(got) != 0 || more {
		t.Errorf("zed: %v %v", emails(got), more)
	}
	if err := s.ForgetSubscriber(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.SearchSubscribers(ctx, "bob", "", 10); len(got) != 0 {
		t.Errorf("an erased address is found: %v", emails(got))
	}
	// The suppression entries beside the index are not addresses.
	if got, _, err := s.SearchSubscribers(ctx, "!", "", 10); err != nil || len(got) != 0 {
		t.Errorf("search \"!\": %v %v", emails(got), err)
	}
}
