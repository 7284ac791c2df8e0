package store_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

// hgetallCalls is how many HGETALL the server has run since its stats
// were last reset.
func hgetallCalls(t *testing.T, rdb *redis.Client) int { return commandCalls(t, rdb, "hgetall") }

// commandCalls is how many times the server has run command (lower case)
// since its stats were last reset.
func commandCalls(t *testing.T, rdb *redis.Client, command string) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+command+":calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// TestSubscriberRange: the ids from ≤ id < to, both ends exact across
// bucket edges (100 ids a bucket), of one status or any, in id order,
// reading only the buckets of that range; from below 1 starts at 1; an
// empty range reads nothing; a damaged record is an error.
func TestSubscriberRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := plainServer(t) // a server of its own: its command counts are this test's
	s := store.New(rdb, store.Options{Prefix: "r:"})
	const n = 350 // ids 1…350; index i (id i+1) is pending when i%3 == 0
	importN(t, s, n)
	pending := func(id int64) bool { return (id-1)%3 == 0 }
	for _, c := range []struct {
		status   digest.SubscriberStatus
		from, to int64
		buckets  int
	}{
		{"", 1, n + 1, 4},
		{"", 0, n + 1, 4},
		{"", -7, 3, 1},
		{"", 101, 201, 2}, // id 200 is in bucket 2
		{"", 100, 200, 1}, // ids 100…199 are bucket 1, all of it
		{"", 150, 250, 2},
		{"", 99, 101, 2},
		{"", 299, 300, 1},
		{digest.Pending, 1, n + 1, 4},
		{digest.Active, 120, 321, 3},
		{"", 300, 300, 0},
		{"", 300, 200, 0},
		{"", 351, 400, 1},
	} {
		var want []int64
		for id := max(c.from, 1); id < min(c.to, n+1); id++ {
			if c.status == "" || (c.status == digest.Pending) == pending(id) {
				want = append(want, id)
			}
		}
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		subs, err := s.SubscriberRange(ctx, c.status, c.from, c.to)
		if err != nil {
			t.Fatalf("%q %d…%d: %v", c.status, c.from, c.to, err)
		}
		var got []int64
		for _, sub := range subs {
			got = append(got, sub.ID)
			if sub.Email != fmt.Sprintf("n%d@example.com", sub.ID-1) || (c.status != "" && sub.Status != c.status) {
				t.Errorf("%q %d…%d: %+v", c.status, c.from, c.to, sub)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q %d…%d: ids %v, want %v", c.status, c.from, c.to, got, want)
		}
		if calls := hgetallCalls(t, rdb); calls != c.buckets {
			t.Errorf("%q %d…%d: read %d buckets, want %d", c.status, c.from, c.to, calls, c.buckets)
		}
	}
	// Subscribers reads the buckets from the cursor's to the last id's,
	// not beyond, and stops at the limit.
	for _, c := range []struct {
		cursor  int64
		limit   int
		first   int64
		count   int
		next    int64
		buckets int
	}{{0, 1000, 1, n, 0, 4}, {150, 1000, 150, n - 149, 0, 3}, {1, 10, 1, 10, 11, 4}, {350, 5, 350, 1, 0, 1}, {351, 5, 0, 0, 0, 1}} {
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		subs, next, err := s.Subscribers(ctx, "", c.cursor, c.limit)
		if err != nil || len(subs) != c.count || next != c.next || (c.count > 0 && subs[0].ID != c.first) {
			t.Errorf("from %d, limit %d: %d subscribers, next %d, %v; want %d from %d, next %d", c.cursor, c.limit, len(subs), next, err, c.count, c.first, c.next)
		}
		if calls := hgetallCalls(t, rdb); calls != c.buckets {
			t.Errorf("from %d, limit %d: read %d buckets, want %d", c.cursor, c.limit, calls, c.buckets)
		}
	}
	// A record cut short (bucket 3 holds ids 300…399) is an error, not a
	// subscriber of zeros.
	if err := rdb.HSet(ctx, "r:{s:0}:r:3", "320", "\x01").Err(); err != nil {
		t.Fatal(err)
	}
	if subs, err := s.SubscriberRange(ctx, "", 300, 400); err == nil {
		t.Errorf("a damaged record listed: %+v", subs)
	}
	if subs, _, err := s.Subscribers(ctx, "", 250, 500); err == nil {
		t.Errorf("a damaged record listed by Subscribers: %d subscribers", len(subs))
	}
	if subs, err := s.SubscriberRange(ctx, "", 200, 300); err != nil || len(subs) != 100 {
		t.Errorf("the buckets before the damaged one: %d %v", len(subs), err)
	}
}

// TestImportOutcomes: an import says of each address whether it was
// added, known already (also the second of the same address in one
// batch) or suppressed; an address whose index entry lost its record (a
// crash between the two writes) gets its record, under its id, and counts
// as added; an empty import does nothing.
func TestImportOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := plainServer(t)
	s := store.New(rdb, store.Options{Prefix: "i:"})
	known, _, err := s.AddSubscriber(ctx, subscriber("known@example.com", digest.Active), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddSubscriber(ctx, subscriber("gone@example.com", digest.Active), false); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetSubscriber(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	// An add that crashed after its first two writes (README.md): a new
	// id, and the address's index entry pointing at it; no record.
	lostID, err := rdb.Incr(ctx, "i:{subs}:next-id").Result()
	if err != nil {
		t.Fatal(err)
	}
	shard := fmt.Sprintf("i:{e:%d}", crc32.ChecksumIEEE([]byte("lost@example.com"))%4096)
	if err := rdb.HSet(ctx, shard, "lost@example.com", lostID).Err(); err != nil {
		t.Fatal(err)
	}
	batch := []digest.Subscriber{
		subscriber("fresh@example.com", digest.Pending),
		subscriber("known@example.com", digest.Pending),
		subscriber("twice@example.com", digest.Active),
		subscriber("gone@example.com", digest.Active),
		subscriber("twice@example.com", digest.Pending),
		subscriber("lost@example.com", digest.Pending),
	}
	out, err := s.ImportSubscribers(ctx, batch)
	want := []digest.AddOutcome{digest.Added, digest.AlreadyKnown, digest.Added, digest.Suppressed, digest.AlreadyKnown, digest.Added}
	if err != nil || !slices.Equal(out, want) {
		t.Fatalf("outcomes %v (%v), want %v", out, err, want)
	}
	if got, err := s.Subscriber(ctx, known.ID); err != nil || got.Status != digest.Active {
		t.Errorf("a known subscriber was changed by the import: %+v %v", got, err)
	}
	if got, err := s.SubscriberByEmail(ctx, "lost@example.com"); err != nil || got.ID != lostID || got.Status != digest.Pending {
		t.Errorf("the address whose record was lost: %+v %v, want id %d from the import", got, err, lostID)
	}
	if got, err := s.SubscriberByEmail(ctx, "twice@example.com"); err != nil || got.Status != digest.Active {
		t.Errorf("an address twice in a batch: %+v %v, want the first", got, err)
	}
	fresh, err := s.SubscriberByEmail(ctx, "fresh@example.com")
	if err != nil || fresh.Status != digest.Pending || fresh.ID <= lostID {
		t.Errorf("a fresh address: %+v %v", fresh, err)
	}
	page := []digest.Subscriber{fresh}
	if err := s.FillConsent(ctx, page); err != nil || page[0].Consent.UserAgent != batch[0].Consent.UserAgent || page[0].Consent.UserAgent == "" {
		t.Errorf("an imported subscriber's user agent: %q %v, want %q", page[0].Consent.UserAgent, err, batch[0].Consent.UserAgent)
	}
	if _, err := s.SubscriberByEmail(ctx, "gone@example.com"); err == nil {
		t.Error("a suppressed address was imported")
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || counts[digest.Active] != 2 || counts[digest.Pending] != 2 {
		t.Errorf("counts %v %v: want 2 active (known, twice), 2 pending (fresh, lost)", counts, err)
	}
	maxID, _ := s.MaxSubscriberID(ctx)
	if out, err := s.ImportSubscribers(ctx, nil); out != nil || err != nil {
		t.Errorf("an empty import: %v %v", out, err)
	}
	if after, _ := s.MaxSubscriberID(ctx); after != maxID {
		t.Errorf("an empty import used ids: %d → %d", maxID, after)
	}
}

// TestCountSubscribersReadsItsGroups: CountSubscribers sums the counts of
// the groups that hold subscribers (ids 1…2150: groups 0, 1 and 2),
// reading one hash per group and no more; with nobody, it reads none.
func TestCountSubscribersReadsItsGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb := plainServer(t) // a server of its own: its command counts are this test's
	s := store.New(rdb, store.Options{Prefix: "r:"})
	if counts, err := s.CountSubscribers(ctx); err != nil || counts[digest.Active] != 0 || hgetallCalls(t, rdb) != 0 {
		t.Errorf("nobody: %v %v, %d reads", counts, err, hgetallCalls(t, rdb))
	}
	const n = 2150 // index i (id i+1) is pending when i%3 == 0
	importN(t, s, n)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	counts, err := s.CountSubscribers(ctx)
	if err != nil || counts[digest.Pending] != (n+2)/3 || counts[digest.Active] != n-(n+2)/3 || counts[digest.Bounced] != 0 {
		t.Errorf("counts %v %v, want %d pending and %d active", counts, err, (n+2)/3, n-(n+2)/3)
	}
	if got := hgetallCalls(t, rdb); got != 3 {
		t.Errorf("counting read %d group hashes, want 3", got)
	}
}
