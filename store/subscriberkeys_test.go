package store_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// TestSubscriberKeysAsDocumented: subscribers live where store/README.md
// says — id's packed record in P{s:<id/1000>}:r:<id/100>, its consent in
// P{s:<id/1000>}:c:<id/100>, its group's counts in P{s:<id/1000>}:counts
// — so that a subscriber's keys share one hash tag (one Cluster slot) and
// 1,000 ids make a group the Cluster can place on any master.
func TestSubscriberKeysAsDocumented(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix, WaitReplicas: redistest.Replicas()})
	var subs []digest.Subscriber
	for i := range 2150 {
		subs = append(subs, subscriber(fmt.Sprintf("reader%d@example.com", i), digest.Active))
	}
	if _, err := s.ImportSubscribers(ctx, subs); err != nil {
		t.Fatal(err)
	}
	keys, err := allKeys(ctx, rdb, prefix+"{s:*")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `\{s:(\d+)\}:(?:([rc]):(\d+)|counts)$`)
	seen := map[string]map[int64]bool{"r": {}, "c": {}}
	groups := map[int64]bool{}
	for _, k := range keys {
		m := re.FindStringSubmatch(k)
		if m == nil {
			t.Errorf("key %q is not of the documented shape", k)
			continue
		}
		g, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] == "" {
			groups[g] = true
			continue
		}
		b, _ := strconv.ParseInt(m[3], 10, 64)
		if b/10 != g {
			t.Errorf("bucket %d is in group %d, want %d: %q", b, g, b/10, k)
		}
		ids, err := rdb.HKeys(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ids {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil || id/100 != b {
				t.Errorf("%q holds field %q, want ids %d…%d", k, f, b*100, b*100+99)
			}
			seen[m[2]][id] = true
		}
	}
	for kind, ids := range seen {
		if len(ids) != len(subs) {
			t.Errorf("%d subscribers have a %s record, want %d", len(ids), kind, len(subs))
		}
	}
	if len(groups) != 3 || !groups[0] || !groups[1] || !groups[2] {
		t.Errorf("groups with counts %v, want 0, 1 and 2", groups)
	}
}

// TestUpdateSubscriberNewUserAgent: a consent changed to a user agent
// never seen before reads back with it (the agent is recorded first).
func TestUpdateSubscriberNewUserAgent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	sub, _, err := s.AddSubscriber(ctx, subscriber("ann@example.com", digest.Pending), false)
	if err != nil {
		t.Fatal(err)
	}
	const agent = "Thunderbird/140.0 (confirmed from a mail client)"
	if _, err := s.UpdateSubscriber(ctx, sub.ID, func(s *digest.Subscriber) error {
		s.Status = digest.Active
		s.Consent.ConfirmedAt = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		s.Consent.UserAgent = agent
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Subscriber(ctx, sub.ID)
	if err != nil || got.Consent.UserAgent != agent || got.Status != digest.Active {
		t.Errorf("after the update: %+v %v, want user agent %q", got.Consent, err, agent)
	}
}

// TestImportKeepsUserAgent: an imported subscriber's consent keeps its
// user agent; one imported without any has none.
func TestImportKeepsUserAgent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	with := subscriber("ann@example.com", digest.Active)
	with.Consent.UserAgent = "Imported/1.0 (from the old list)"
	without := subscriber("bob@example.com", digest.Active)
	without.Consent.UserAgent = ""
	if _, err := s.ImportSubscribers(ctx, []digest.Subscriber{with, without}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []digest.Subscriber{with, without} {
		got, err := s.SubscriberByEmail(ctx, want.Email)
		if err != nil || got.Consent.UserAgent != want.Consent.UserAgent {
			t.Errorf("%s: user agent %q %v, want %q", want.Email, got.Consent.UserAgent, err, want.Consent.UserAgent)
		}
	}
}
