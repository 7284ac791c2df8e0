package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

// importN adds n active subscribers (n0@… upwards) through
// ImportSubscribers, in batches as the import does.
func importN(t *testing.T, s *store.Store, n int) {
	t.Helper()
	for from := 0; from < n; from += 1000 {
		var batch []digest.Subscriber
		for i := from; i < min(n, from+1000); i++ {
			status := digest.Active
			if i%3 == 0 {
				status = digest.Pending
			}
			batch = append(batch, subscriber(fmt.Sprintf("n%d@example.com", i), status))
		}
		out, err := s.ImportSubscribers(context.Background(), batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if o != digest.Added {
				t.Fatalf("import %d: outcome %v", from+i, o)
			}
		}
	}
}

// TestSubscribersPagesCoverEveryIDOnce: paging through more subscribers
// than one round trip reads (several rounds of buckets), at any page size,
// returns each subscriber exactly once, in id order; a status filter
// returns exactly those of that status; limit 0 means 100.
func TestSubscribersPagesCoverEveryIDOnce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	const n = 2150
	importN(t, s, n)
	for _, c := range []struct {
		status digest.SubscriberStatus
		limit  int
		want   int
	}{{"", 0, n}, {"", 37, n}, {"", 333, n}, {"", 5000, n}, {digest.Pending, 250, (n + 2) / 3}, {digest.Active, 999, n - (n+2)/3}} {
		seen := map[int64]bool{}
		var last int64
		cursor := int64(0)
		pages := 0
		for {
			page, next, err := s.Subscribers(ctx, c.status, cursor, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			wantLen := c.limit
			if wantLen == 0 {
				wantLen = 100
			}
			if next != 0 && len(page) != wantLen {
				t.Fatalf("status %q limit %d: a page of %d before the end", c.status, c.limit, len(page))
			}
			for _, sub := range page {
				if seen[sub.ID] || sub.ID <= last {
					t.Fatalf("status %q limit %d: id %d twice or out of order (after %d)", c.status, c.limit, sub.ID, last)
				}
				if c.status != "" && sub.Status != c.status {
					t.Fatalf("status %q: got a %s subscriber", c.status, sub.Status)
				}
				seen[sub.ID], last = true, sub.ID
			}
			if next == 0 {
				break
			}
			if next <= last {
				t.Fatalf("next cursor %d after id %d", next, last)
			}
			cursor = next
			if pages > n+1 {
				t.Fatal("paging does not end")
			}
		}
		if len(seen) != c.want {
			t.Errorf("status %q limit %d: %d subscribers listed, want %d", c.status, c.limit, len(seen), c.want)
		}
	}
	// A cursor of 0 or less starts at the first subscriber.
	for _, cursor := range []int64{0, -5, 1} {
		page, _, err := s.Subscribers(ctx, "", cursor, 1)
		if err != nil || len(page) != 1 || page[0].Email != "n0@example.com" {
			t.Errorf("cursor %d: %+v %v", cursor, page, err)
		}
	}
	// Past the last id: nothing, and no next cursor.
	if page, next, err := s.Subscribers(ctx, "", n+500, 10); err != nil || len(page) != 0 || next != 0 {
		t.Errorf("past the end: %d, next %d, %v", len(page), next, err)
	}
	// An empty store lists nothing.
	if page, next, err := newStore(t, 10).Subscribers(ctx, "", 0, 10); err != nil || len(page) != 0 || next != 0 {
		t.Errorf("empty store: %v %d %v", page, next, err)
	}
}

// TestPrefixSeparatesStores: two stores with different prefixes on one
// Redis share nothing, and every key either writes starts with its prefix.
// With no prefix given, it is DefaultPrefix.
func TestPrefixSeparatesStores(t *testing.T) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)}) // a Redis of its own: the default prefix is shared
	t.Cleanup(func() { rdb.Close() })
	a := store.New(rdb, store.Options{Prefix: "alpha:"})
	def := store.New(rdb, store.Options{})
	for _, s := range []*store.Store{a, def} {
		if _, _, err := s.AddSubscriber(ctx, subscriber("same@example.com", digest.Active), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.SaveEdition(ctx, edition(t, "2026-11-27", "Only in alpha"), time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RememberIdempotencyKey(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := a.EnqueueMail(ctx, "confirm:1:1"); err != nil {
		t.Fatal(err)
	}
	if err := a.ForgetSubscriber(ctx, "same@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := def.SubscriberByEmail(ctx, "same@example.com"); err != nil {
		t.Errorf("erasing in alpha: erased under the default prefix too: %v", err)
	}
	if eds, err := def.LatestEditions(ctx, 10); err != nil || len(eds) != 0 {
		t.Errorf("alpha's edition seen under the default prefix: %d %v", len(eds), err)
	}
	if _, ok, err := def.ClaimMail(ctx, time.Now(), time.Minute); ok || err != nil {
		t.Errorf("alpha's outbox seen under the default prefix: %v %v", ok, err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var alpha, broadsheet int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "alpha:"):
			alpha++
		case strings.HasPrefix(k, store.DefaultPrefix):
			broadsheet++
		default:
			t.Errorf("key %q has neither prefix", k)
		}
	}
	if alpha == 0 || broadsheet == 0 {
		t.Errorf("%d alpha keys, %d %s keys", alpha, broadsheet, store.DefaultPrefix)
	}
}

// TestKeysExpire: an idempotency key is kept a day; a schedule lock as
// long as asked; a cached source page a week.
func TestKeysExpire(t *testing.T) {
	ctx := context.Background()
	rdb, prefix := redistest.Client(t)
	s := store.New(rdb, store.Options{Prefix: prefix})
	ttlOf := func(what string) time.Duration {
		t.Helper()
		keys, err := allKeys(ctx, rdb, prefix+"*")
		if err != nil || len(keys) != 1 {
			t.Fatalf("%s: keys %q %v, want one", what, keys, err)
		}
		ttl, err := rdb.PTTL(ctx, keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		rdb.Del(ctx, keys[0])
		return ttl
	}
	if _, _, err := s.RememberIdempotencyKey(ctx, "req-1", "job-1"); err != nil {
		t.Fatal(err)
	}
	if ttl := ttlOf("idempotency key"); ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("idempotency key expires in %v, want a day", ttl)
	}
	if ok, err := s.TakeScheduleLock(ctx, "2026-11-27", time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := s.ExtendScheduleLock(ctx, "2026-11-27", 3*time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := ttlOf("schedule lock"); ttl <= 2*time.Hour || ttl > 3*time.Hour {
		t.Errorf("extended schedule lock expires in %v, want 3h", ttl)
	}
	if err := s.CacheResponse(ctx, "https://news.example.org/", digest.CachedResponse{ETag: `"e"`, Body: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if ttl := ttlOf("source cache"); ttl <= store.SourceCacheTTL-time.Hour || ttl > store.SourceCacheTTL {
		t.Errorf("cached source expires in %v, want %v", ttl, store.SourceCacheTTL)
	}
}

// allKeys lists the keys matching pattern on every master: on a Cluster,
// KEYS asks one node only.
func allKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Keys(ctx, pattern).Result()
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		all = append(all, ks...)
		mu.Unlock()
		return err
	})
	return all, err
}

// TestUpdateSubscriberGivesUpUnderContention: a change that loses every
// race is tried 20 times and then fails (it never loops for ever); one
// that loses 19 races still lands on the 20th try.
func TestUpdateSubscriberGivesUpUnderContention(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	sub, _, err := s.AddSubscriber(ctx, subscriber("busy@example.com", digest.Active), false)
	if err != nil {
		t.Fatal(err)
	}
	race := func(losses int) (int, error) {
		tries := 0
		_, err := s.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error {
			tries++
			if tries <= losses { // another writer gets in first
				if _, err := s.UpdateSubscriber(ctx, sub.ID, func(y *digest.Subscriber) error {
					y.Name = fmt.Sprintf("other writer %d", tries)
					return nil
				}); err != nil {
					return err
				}
			}
			x.Name = "mine"
			return nil
		})
		return tries, err
	}
	if tries, err := race(1000); err == nil || tries != 20 {
		t.Errorf("always losing: %d tries, %v; want an error after 20", tries, err)
	}
	if tries, err := race(19); err != nil || tries != 20 {
		t.Errorf("losing 19 times: %d tries, %v; want success on the 20th", tries, err)
	}
	if got, _ := s.Subscriber(ctx, sub.ID); got.Name != "mine" {
		t.Errorf("name %q", got.Name)
	}
	// A change may not make the subscriber invalid.
	if _, err := s.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error { x.Status = "gone"; return nil }); err == nil {
		t.Error("an unknown status was stored")
	}
	if _, err := s.UpdateSubscriber(ctx, sub.ID, func(x *digest.Subscriber) error { x.Format = "pdf"; return nil }); err == nil {
		t.Error("an unknown format was stored")
	}
	boom := errors.New("boom")
	if _, err := s.UpdateSubscriber(ctx, sub.ID, func(*digest.Subscriber) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("the change's error: %v", err)
	}
}

// TestZeroArgumentDefaults: LatestEditions(0) and (-1) return nothing;
// KeepEditions 0 or less keeps the default number, not none.
func TestZeroArgumentDefaults(t *testing.T) {
	ctx := context.Background()
	for _, keep := range []int{0, -1} {
		s := newStore(t, keep)
		day := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
		for i := range 3 {
			d := day.AddDate(0, 0, i)
			if _, _, err := s.SaveEdition(ctx, edition(t, d.Format("2006-01-02"), fmt.Sprint("Lead ", i)), d); err != nil {
				t.Fatal(err)
			}
		}
		if eds, err := s.LatestEditions(ctx, 10); err != nil || len(eds) != 3 {
			t.Errorf("KeepEditions %d: %d editions kept of 3 (%v)", keep, len(eds), err)
		}
		for _, n := range []int{0, -1} {
			if eds, err := s.LatestEditions(ctx, n); err != nil || len(eds) != 0 {
				t.Errorf("LatestEditions(%d): %d editions, %v", n, len(eds), err)
			}
		}
		if eds, err := s.LatestEditions(ctx, 1); err != nil || len(eds) != 1 || eds[0].ID != "2026-11-27" {
			t.Errorf("LatestEditions(1): %v %v", eds, err)
		}
	}
}

// TestBounce: an active or pending subscriber becomes bounced, with when;
// others are left alone, and Bounce says whether it changed anything.
func TestBounce(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		status  digest.SubscriberStatus
		changed bool
	}{{digest.Active, true}, {digest.Pending, true}, {digest.Unsubscribed, false}, {digest.Complained, false}} {
		sub, _, err := s.AddSubscriber(ctx, subscriber(string(c.status)+"@example.com", c.status), false)
		if err != nil {
			t.Fatal(err)
		}
		changed, err := s.Bounce(ctx, sub.ID, at)
		if err != nil || changed != c.changed {
			t.Errorf("%s: changed %v, %v", c.status, changed, err)
		}
		got, _ := s.Subscriber(ctx, sub.ID)
		page := []digest.Subscriber{got}
		if err := s.FillConsent(ctx, page); err != nil {
			t.Fatal(err)
		}
		got = page[0]
		if c.changed && (got.Status != digest.Bounced || !got.Consent.LeftAt.Equal(at) || got.Consent.LeftHow != "bounce") {
			t.Errorf("%s bounced: %+v", c.status, got)
		}
		if !c.changed && got.Status != c.status {
			t.Errorf("%s bounced: now %s", c.status, got.Status)
		}
		if again, err := s.Bounce(ctx, sub.ID, at); err != nil || again {
			t.Errorf("%s: bouncing twice changed it again (%v)", c.status, err)
		}
	}
	if _, err := s.Bounce(ctx, 999999, at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bouncing an unknown id: %v", err)
	}
}

// TestFillConsent reads consent records with their user agents, for
// subscribers with and without one, and leaves an empty page alone.
func TestFillConsent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, 10)
	with, _, _ := s.AddSubscriber(ctx, subscriber("with@example.com", digest.Active), false)
	bare := subscriber("bare@example.com", digest.Active)
	bare.Consent = digest.Consent{Source: "import", Text: "csv"}
	without, _, _ := s.AddSubscriber(ctx, bare, false)
	page := []digest.Subscriber{{ID: with.ID}, {ID: without.ID}}
	if err := s.FillConsent(ctx, page); err != nil {
		t.Fatal(err)
	}
	if page[0].Consent.UserAgent != "Mozilla/5.0 (X11; Linux x86_64)" || page[0].Consent.IP != "203.0.113.7" || page[0].Consent.Source != "form" {
		t.Errorf("with a user agent: %+v", page[0].Consent)
	}
	if page[1].Consent.UserAgent != "" || page[1].Consent.Source != "import" || page[1].Consent.Text != "csv" {
		t.Errorf("without one: %+v", page[1].Consent)
	}
	if err := s.FillConsent(ctx, nil); err != nil {
		t.Errorf("an empty page: %v", err)
	}
}

func TestPing(t *testing.T) {
	if err := newStore(t, 10).Ping(context.Background()); err != nil {
		t.Error(err)
	}
	down := store.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), store.Options{})
	if err := down.Ping(context.Background()); err == nil {
		t.Error("Ping of a Redis that is not there succeeded")
	}
}
