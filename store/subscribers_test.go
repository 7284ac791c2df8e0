package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

func subscriber(email string, status digest.SubscriberStatus) digest.Subscriber {
	return digest.Subscriber{
		Email: email, Name: "Name of " + email, Status: status, Format: digest.FormatHTML,
		Consent: digest.Consent{
			Source: "form", SubscribedAt: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
			IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Text: "2026-11",
		},
	}
}

func TestSubscriberRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	in := subscriber("ann@example.com", digest.Pending)
	in.ConfirmSentAt = time.Date(2026, 11, 27, 8, 0, 1, 0, time.UTC)
	got, created, err := s.AddSubscriber(ctx, in, false)
	if err != nil || !created || got.ID != 1 {
		t.Fatalf("AddSubscriber: %+v created=%v err=%v", got, created, err)
	}
	in.ID = 1
	for name, read := range map[string]func() (digest.Subscriber, error){
		"by id":    func() (digest.Subscriber, error) { return s.Subscriber(ctx, 1) },
		"by email": func() (digest.Subscriber, error) { return s.SubscriberByEmail(ctx, "ann@example.com") },
	} {
		back, err := read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fmt.Sprint(back) != fmt.Sprint(in) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, back, in)
		}
	}
	// The same email again changes nothing.
	other := subscriber("ann@example.com", digest.Active)
	other.Name = "Someone else"
	again, created, err := s.AddSubscriber(ctx, other, false)
	if err != nil || created || again.ID != 1 || again.Name != in.Name || again.Status != digest.Pending {
		t.Errorf("adding a known email: %+v created=%v err=%v", again, created, err)
	}
	if _, err := s.SubscriberByEmail(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown email: %v", err)
	}
	if _, err := s.Subscriber(ctx, 99); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestUpdateSubscriberMovesCounts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	for i := range 3 {
		if _, _, err := s.AddSubscriber(ctx, subscriber(fmt.Sprintf("p%d@example.com", i), digest.Pending), false); err != nil {
			t.Fatal(err)
		}
	}
	confirmed := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	sub, err := s.UpdateSubscriber(ctx, 2, func(sub *digest.Subscriber) error {
		sub.Status = digest.Active
		sub.Consent.ConfirmedAt = confirmed
		sub.Consent.ConfirmIP = "198.51.100.1"
		sub.Email = "changed@example.com" // ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Email != "p1@example.com" {
		t.Errorf("the email changed: %q", sub.Email)
	}
	back, _ := s.Subscriber(ctx, 2)
	if back.Status != digest.Active || !back.Consent.ConfirmedAt.Equal(confirmed) || back.Consent.ConfirmIP != "198.51.100.1" {
		t.Errorf("update not stored: %+v", back)
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[digest.Pending] != 2 || counts[digest.Active] != 1 || counts[digest.Bounced] != 0 {
		t.Errorf("counts: %v", counts)
	}
	// ErrUnchanged writes nothing.
	if _, err := s.UpdateSubscriber(ctx, 1, func(*digest.Subscriber) error { return store.ErrUnchanged }); err != nil {
		t.Error(err)
	}
	if _, err := s.UpdateSubscriber(ctx, 1, func(sub *digest.Subscriber) error { sub.Status = "gone"; return nil }); err == nil {
		t.Error("a bad status was stored")
	}
}

func TestUpdateSubscriberConcurrently(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	if _, _, err := s.AddSubscriber(ctx, subscriber("race@example.com", digest.Pending), false); err != nil {
		t.Fatal(err)
	}
	// Ten writers each claim the right to send the confirmation mail;
	// exactly one may win.
	wins := make(chan bool, 10)
	for range 10 {
		go func() {
			won := false
			_, err := s.UpdateSubscriber(ctx, 1, func(sub *digest.Subscriber) error {
				won = false
				if !sub.ConfirmSentAt.IsZero() {
					return store.ErrUnchanged
				}
				sub.ConfirmSentAt = time.Now()
				won = true
				return nil
			})
			wins <- err == nil && won
		}()
	}
	n := 0
	for range 10 {
		if <-wins {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d writers won, want exactly 1", n)
	}
}

func TestForgetSuppressesImports(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	if _, _, err := s.AddSubscriber(ctx, subscriber("gone@example.com", digest.Active), false); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetSubscriber(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubscriberByEmail(ctx, "gone@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("forgotten subscriber still found: %v", err)
	}
	if _, err := s.Subscriber(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("forgotten record still there: %v", err)
	}
	if counts, _ := s.CountSubscribers(ctx); counts[digest.Active] != 0 {
		t.Errorf("counts after forgetting: %v", counts)
	}
	if _, _, err := s.AddSubscriber(ctx, subscriber("gone@example.com", digest.Active), false); !errors.Is(err, store.ErrSuppressed) {
		t.Errorf("re-adding an erased address: %v, want ErrSuppressed", err)
	}
	out, err := s.ImportSubscribers(ctx, []digest.Subscriber{subscriber("gone@example.com", digest.Active), subscriber("new@example.com", digest.Active)})
	if err != nil || out[0] != digest.Suppressed || out[1] != digest.Added {
		t.Errorf("import: %v %v", out, err)
	}
	// Its owner may subscribe again through the form.
	if _, created, err := s.AddSubscriber(ctx, subscriber("gone@example.com", digest.Pending), true); err != nil || !created {
		t.Errorf("the owner subscribing again: created=%v %v", created, err)
	}
	if err := s.ForgetSubscriber(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("forgetting an unknown address: %v", err)
	}
}

func TestSubscribersCursor(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	var batch []digest.Subscriber
	for i := range 450 {
		st := digest.Active
		if i%3 == 0 {
			st = digest.Pending
		}
		batch = append(batch, subscriber(fmt.Sprintf("user%03d@example.com", i), st))
	}
	out, err := s.ImportSubscribers(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != digest.Added || out[449] != digest.Added {
		t.Fatalf("import: %v", out[:3])
	}
	var seen []int64
	cursor := int64(0)
	for pages := 0; ; pages++ {
		page, next, err := s.Subscribers(ctx, digest.Active, cursor, 70)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 70 {
			t.Fatalf("page of %d, limit 70", len(page))
		}
		for _, sub := range page {
			if sub.Status != digest.Active {
				t.Errorf("subscriber %d is %s", sub.ID, sub.Status)
			}
			if len(seen) > 0 && sub.ID <= seen[len(seen)-1] {
				t.Errorf("ids out of order: %d after %d", sub.ID, seen[len(seen)-1])
			}
			seen = append(seen, sub.ID)
		}
		if next == 0 {
			break
		}
		cursor = next
		if pages > 20 {
			t.Fatal("the cursor does not advance")
		}
	}
	if len(seen) != 300 {
		t.Errorf("iterated %d active subscribers, want 300", len(seen))
	}
	all, next, err := s.Subscribers(ctx, "", 0, 1000)
	if err != nil || len(all) != 450 || next != 0 {
		t.Errorf("all: %d, next %d, %v", len(all), next, err)
	}
	counts, _ := s.CountSubscribers(ctx)
	if counts[digest.Active] != 300 || counts[digest.Pending] != 150 {
		t.Errorf("counts: %v", counts)
	}
}

// TestForgetConcurrently: erasing one address from several requests at
// once erases it once and leaves the counts right.
func TestForgetConcurrently(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	for i := range 5 {
		st := digest.Active
		if i == 4 {
			st = digest.Pending
		}
		if _, _, err := s.AddSubscriber(ctx, subscriber(fmt.Sprintf("f%d@example.com", i), st), false); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 5 {
		for range 8 {
			wg.Go(func() {
				if s.ForgetSubscriber(ctx, fmt.Sprintf("f%d@example.com", i)) == nil {
					ok.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Errorf("%d erasures succeeded, want 5 (one per address)", ok.Load())
	}
	counts, _ := s.CountSubscribers(ctx)
	for st, n := range counts {
		if n != 0 {
			t.Errorf("%s count %d after erasing everyone", st, n)
		}
	}
}
