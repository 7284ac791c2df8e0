package subscription_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// One line per subscriber change: a repeated one-click, a second
// confirmation or the same format again log nothing more, and no line
// above debug carries the address.
func TestOneLogLinePerChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var logs bytes.Buffer
	signer, _ := subscription.NewSigner([]string{"service-test-secret-0123"})
	base, _ := url.Parse("https://news.example.com/")
	svc := subscription.New(f.store, nil, signer, subscription.Config{Title: "T", BaseURL: base},
		func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
	sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "ann@example.com", Status: digest.Pending})
	if err != nil {
		t.Fatal(err)
	}
	confirm := signer.Sign(subscription.PurposeConfirm, sub.ID, f.now)
	prefs := signer.Sign(subscription.PurposePreferences, sub.ID, f.now)
	unsub := signer.Sign(subscription.PurposeUnsubscribe, sub.ID, f.now)
	for range 3 {
		if _, err := svc.Confirm(ctx, confirm, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetFormat(ctx, prefs, digest.FormatText); err != nil {
			t.Fatal(err)
		}
	}
	for range 6 {
		if _, err := svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, unsub, "one-click"); err != nil {
			t.Fatal(err)
		}
	}
	got := logs.String()
	for msg, want := range map[string]int{"Subscriber confirmed": 1, "Subscriber changed format": 1, "Subscriber left": 1} {
		if n := strings.Count(got, msg); n != want {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, n, want, got)
		}
	}
	if strings.Contains(got, "ann@") {
		t.Errorf("the address is logged:\n%s", got)
	}
}
