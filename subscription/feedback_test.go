package subscription_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// TestApplyFeedback: each report that comes back moves a subscriber only
// from the statuses it applies to, recording when and how they left; the
// same report again changes nothing; other statuses are left alone.
func TestApplyFeedback(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	var logs bytes.Buffer
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	svc := subscription.New(f.store, nil, signer, subscription.Config{Title: "T", BaseURL: base},
		func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
	type want struct {
		status digest.SubscriberStatus
		how    string
	}
	all := []digest.SubscriberStatus{digest.Pending, digest.Active, digest.Unsubscribed, digest.Bounced, digest.Complained}
	outcomes := map[string]map[digest.SubscriberStatus]want{
		subscription.FeedbackBounced: {
			digest.Pending: {digest.Bounced, "bounce"}, digest.Active: {digest.Bounced, "bounce"},
		},
		subscription.FeedbackComplained: {
			digest.Pending: {digest.Complained, "complaint"}, digest.Active: {digest.Complained, "complaint"},
			digest.Unsubscribed: {digest.Complained, "complaint"},
		},
		subscription.FeedbackUnsubscribe: {
			digest.Pending: {digest.Unsubscribed, "mailto"}, digest.Active: {digest.Unsubscribed, "mailto"},
		},
	}
	n := 0
	for outcome, moves := range outcomes {
		for _, from := range all {
			n++
			email := outcome + "-" + string(from) + "@example.com"
			sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: digest.Active})
			if err != nil {
				t.Fatal(err)
			}
			before, err := f.store.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error {
				x.Status, x.Consent.LeftHow = from, "before"
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			f.now = f.now.Add(time.Minute)
			logs.Reset()
			got, changed, err := svc.ApplyFeedback(ctx, sub.ID, outcome)
			if err != nil {
				t.Fatalf("%s on %s: %v", outcome, from, err)
			}
			stored, _ := f.store.Subscriber(ctx, sub.ID)
			w, moves := moves[from]
			if !moves {
				if changed || got.Status != from || stored.Status != from || stored.Consent.LeftHow != "before" ||
					!stored.Consent.LeftAt.Equal(before.Consent.LeftAt) || logs.Len() != 0 {
					t.Errorf("%s on a %s subscriber: changed=%v, now %s (%q), logged %q; want nothing changed",
						outcome, from, changed, stored.Status, stored.Consent.LeftHow, logs.String())
				}
				continue
			}
			if !changed || got.Status != w.status || stored.Status != w.status || stored.Consent.LeftHow != w.how ||
				!stored.Consent.LeftAt.Equal(f.now) {
				t.Errorf("%s on a %s subscriber: changed=%v, returned %s, stored %s left %q at %v; want %s left %q at %v",
					outcome, from, changed, got.Status, stored.Status, stored.Consent.LeftHow, stored.Consent.LeftAt, w.status, w.how, f.now)
			}
			if c := strings.Count(logs.String(), "Subscriber changed by a report"); c != 1 {
				t.Errorf("%s on a %s subscriber logged the change %d times, want once", outcome, from, c)
			}
			// The same report again: nothing more.
			f.now = f.now.Add(time.Minute)
			logs.Reset()
			again, changed, err := svc.ApplyFeedback(ctx, sub.ID, outcome)
			if err != nil || changed || again.Status != w.status || logs.Len() != 0 {
				t.Errorf("%s twice on a %s subscriber: %s changed=%v %v, logged %q", outcome, from, again.Status, changed, err, logs.String())
			}
			if twice, _ := f.store.Subscriber(ctx, sub.ID); !twice.Consent.LeftAt.Equal(stored.Consent.LeftAt) {
				t.Errorf("%s twice on a %s subscriber moved its leaving time to %v", outcome, from, twice.Consent.LeftAt)
			}
		}
	}
	if n != 15 {
		t.Fatalf("%d cases run", n)
	}

	sub, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "other@example.com", Status: digest.Active})
	if _, changed, err := svc.ApplyFeedback(ctx, sub.ID, "delivered"); err == nil || changed {
		t.Errorf("an unknown outcome: changed=%v %v, want an error", changed, err)
	}
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Status != digest.Active {
		t.Errorf("an unknown outcome made the subscriber %s", got.Status)
	}
	if _, _, err := svc.ApplyFeedback(ctx, 999999, subscription.FeedbackBounced); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("an unknown subscriber: %v, want ErrNotFound", err)
	}
}
