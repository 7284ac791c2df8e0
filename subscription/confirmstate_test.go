package subscription_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// downStore is a store whose Redis cannot be reached (nothing listens on
// port 1): every call fails at once with a connection error (one dial, no
// retries).
func downStore() *store.Store {
	return store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second,
		DialerRetries: 1, DialerRetryTimeout: time.Millisecond}), store.Options{Prefix: "x:"})
}

// TestConfirmState: the confirmation page tells what its button would do
// without doing it — confirm a pending reader, nothing for an active one
// or one who left — within the link's 48 hours; a forged link, an expired
// one or one of an erased reader is refused; with Redis away the genuine
// link still gets its button.
func TestConfirmState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	issued := f.now
	sign := func(id int64) string { return signer.Sign(subscription.PurposeConfirm, id, issued) }
	pending := subscribe(t, f, "pending@example.com")
	active, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "active@example.com", Status: digest.Active})
	left, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "left@example.com", Status: digest.Active})
	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.UnsubscribeURL(left.ID), "unsubscribe"), "link"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sub  digest.Subscriber
		want subscription.ConfirmOutcome
	}{{pending, subscription.Confirmable}, {active, subscription.AlreadyConfirmed}, {left, subscription.NotConfirmable}} {
		for _, age := range []time.Duration{0, 48 * time.Hour} {
			f.now = issued.Add(age)
			if got, err := f.svc.ConfirmState(ctx, sign(c.sub.ID)); err != nil || got != c.want {
				t.Errorf("%s, link %v old: %v %v, want %v", c.sub.Email, age, got, err, c.want)
			}
		}
		f.now = issued.Add(48*time.Hour + time.Second)
		if _, err := f.svc.ConfirmState(ctx, sign(c.sub.ID)); !errors.Is(err, subscription.ErrExpired) {
			t.Errorf("%s, link 48h and a second old: %v, want ErrExpired", c.sub.Email, err)
		}
	}
	f.now = issued
	if got, _ := f.store.Subscriber(ctx, pending.ID); got.Status != digest.Pending || !got.Consent.ConfirmedAt.IsZero() {
		t.Errorf("ConfirmState changed the pending reader: %s, confirmed at %v", got.Status, got.Consent.ConfirmedAt)
	}
	for name, tok := range map[string]string{
		"forged":        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"other purpose": signer.Sign(subscription.PurposeUnsubscribe, pending.ID, issued),
		"unknown id":    sign(987654),
	} {
		if got, err := f.svc.ConfirmState(ctx, tok); !errors.Is(err, subscription.ErrInvalidToken) {
			t.Errorf("%s link: %v %v, want ErrInvalidToken", name, got, err)
		}
	}

	var logs bytes.Buffer
	base, _ := url.Parse("https://news.example.com/")
	down := subscription.New(downStore(), nil, signer, subscription.Config{Title: "T", BaseURL: base},
		func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
	if got, err := down.ConfirmState(ctx, sign(pending.ID)); err != nil || got != subscription.Confirmable {
		t.Errorf("Redis away: %v %v, want the button (Confirmable)", got, err)
	}
	if !strings.Contains(logs.String(), "without the subscriber's state") {
		t.Errorf("Redis away was not logged: %q", logs.String())
	}
	if _, err := down.ConfirmState(ctx, "forged"); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("Redis away, a forged link: %v, want ErrInvalidToken", err)
	}
}

// welcomes records the subscribers a Welcomer was asked to greet.
type welcomes struct {
	mu   sync.Mutex
	subs []digest.Subscriber
	err  error
}

func (w *welcomes) Welcome(_ context.Context, sub digest.Subscriber) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subs = append(w.subs, sub)
	return w.err
}

// TestWelcomeOnConfirm: the Welcomer greets a reader once, when they
// confirm — not on a second click — and a welcome that fails is logged
// but leaves the confirmation standing.
func TestWelcomeOnConfirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	var logs bytes.Buffer
	w := &welcomes{}
	svc := subscription.New(f.store, nil, signer, subscription.Config{Title: "T", BaseURL: base, Welcomer: w},
		func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
	ok := subscribe(t, f, "ok@example.com")
	failing := subscribe(t, f, "failing@example.com")

	tok := signer.Sign(subscription.PurposeConfirm, ok.ID, f.now)
	for range 2 {
		if _, err := svc.Confirm(ctx, tok, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.subs) != 1 || w.subs[0].ID != ok.ID || w.subs[0].Status != digest.Active || w.subs[0].Email != "ok@example.com" {
		t.Fatalf("welcomed %+v, want the confirmed reader once", w.subs)
	}
	if strings.Contains(logs.String(), "Unable to mail the latest edition") {
		t.Errorf("a welcome that worked was logged as failed: %q", logs.String())
	}

	w.err = errors.New("no edition yet")
	outcome, err := svc.Confirm(ctx, signer.Sign(subscription.PurposeConfirm, failing.ID, f.now), "")
	if err != nil || outcome != subscription.Confirmed {
		t.Errorf("a failing welcome: %v %v, want confirmed", outcome, err)
	}
	if got, _ := f.store.Subscriber(ctx, failing.ID); got.Status != digest.Active {
		t.Errorf("a failing welcome left the reader %s", got.Status)
	}
	if len(w.subs) != 2 || !strings.Contains(logs.String(), "Unable to mail the latest edition") {
		t.Errorf("a failing welcome: %d welcomes, logs %q", len(w.subs), logs.String())
	}
}

// TestImportLeavesErasedOut: an address erased by Forget is not imported
// again, and the report counts it apart.
func TestImportLeavesErasedOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "erased@example.com", Status: digest.Active}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Forget(ctx, "erased@example.com"); err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.Import(ctx, strings.NewReader("email\nerased@example.com\nnew@example.com\n"), "v1")
	if err != nil || rep.Suppressed != 1 || rep.Added != 1 || rep.Existing != 0 || rep.InvalidCount != 0 {
		t.Errorf("report %+v %v, want 1 added and 1 suppressed", rep, err)
	}
	if _, err := f.store.SubscriberByEmail(ctx, "erased@example.com"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("the erased address came back: %v", err)
	}
}
