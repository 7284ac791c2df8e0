package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

const (
	// maxAgents bounds the user-agent dictionary; past it, new agents are
	// not recorded (their subscribers' consent shows no user agent).
	maxAgents = 100_000
	// subscribersPerBucket ids share one record hash: small enough to stay
	// listpack-encoded (Redis's default hash-max-listpack-entries is 128).
	subscribersPerBucket = 100
	// subscribersPerGroup ids share one hash tag, so one slot: their record
	// and consent buckets and their status counts, which the scripts
	// changing a subscriber write together. 100,000 subscribers make 100
	// groups, which a Redis Cluster spreads over its masters.
	subscribersPerGroup = 1000
	// emailIndexShards hashes split the email → id index, each with its
	// own hash tag (slot).
	emailIndexShards = 4096
)

// ErrSuppressed and ErrUnchanged are digest's, so callers need not import
// store to test for them.
var (
	ErrSuppressed = digest.ErrSuppressed
	ErrUnchanged  = digest.ErrUnchanged
)

func (k keys) subscriberNextID() string { return k.prefix + "{subs}:next-id" }
func (k keys) subscriberAgents() string { return k.prefix + "{subs}:agents" }

// group is the key prefix of the subscriber group holding id, whose hash
// tag is the group's number.
func (k keys) group(g int64) string { return k.prefix + "{s:" + strconv.FormatInt(g, 10) + "}:" }

// recordBucket and consentBucket name bucket b (ids b·100 … b·100+99).
func (k keys) recordBucket(b int64) string {
	return k.group(b*subscribersPerBucket/subscribersPerGroup) + "r:" + strconv.FormatInt(b, 10)
}
func (k keys) consentBucket(b int64) string {
	return k.group(b*subscribersPerBucket/subscribersPerGroup) + "c:" + strconv.FormatInt(b, 10)
}
func (k keys) subscriberRecords(id int64) string  { return k.recordBucket(id / subscribersPerBucket) }
func (k keys) subscriberConsents(id int64) string { return k.consentBucket(id / subscribersPerBucket) }

// groupCounts counts the statuses of group g's subscribers.
func (k keys) groupCounts(g int64) string { return k.group(g) + "counts" }

// emailIndex is the shard of the email index (and of the suppression
// list) holding email.
func (k keys) emailIndex(email string) string {
	return k.emailIndexShard(int(crc32.ChecksumIEEE([]byte(email)) % emailIndexShards))
}

// emailIndexShard names shard n of the email index.
func (k keys) emailIndexShard(n int) string { return k.prefix + "{e:" + strconv.Itoa(n) + "}" }

// suppressionField is what the suppression list keeps of an erased
// address, in the address's index shard: "!" and 128 bits of its
// SHA-256, not the address (no address starts with "!").
func suppressionField(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "!" + hex.EncodeToString(sum[:16])
}

// claimEmail points the address ARGV[1] at the new id ARGV[2] in its
// index shard unless it is known — {0, id} — or suppressed — {-1}; an
// erased address's owner (ARGV[4] = '1') lifts its suppression. Returns
// {1, id}. Run twice, the second run answers {0, ARGV[2]}.
var claimEmail = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id then return {0, tonumber(id)} end
if redis.call('HEXISTS', KEYS[1], ARGV[3]) == 1 then
  if ARGV[4] ~= '1' then return {-1} end
  redis.call('HDEL', KEYS[1], ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1, tonumber(ARGV[2])}
`)

// createRecord stores subscriber ARGV[1]'s records (hot ARGV[2], consent
// ARGV[3]) and counts its status ARGV[4] in its group, unless it has a
// record already. Returns 1 if created.
var createRecord = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return 1
`)

// recordAgent adds a user agent to the dictionary while it has room.
var recordAgent = redis.NewScript(`
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) end
return 1
`)

// AddSubscriber stores sub (its Email normalised) as a new subscriber and
// returns it with its id, and true. When the email is already known it
// returns the stored subscriber and false, changing nothing. An erased
// address gives ErrSuppressed unless liftSuppression: its owner may
// subscribe again (through the form, with double opt-in); imports and
// admins may not add it.
//
// The address's index shard and the subscriber's group live in different
// slots, so this is two writes: the index entry, then the records. A
// crash between them leaves an index entry without a record; the next
// add of that address writes the record (see existing).
func (s *Store) AddSubscriber(ctx context.Context, sub digest.Subscriber, liftSuppression bool) (digest.Subscriber, bool, error) {
	shard, sup := s.keys.emailIndex(sub.Email), suppressionField(sub.Email)
	vals, err := s.rdb.HMGet(ctx, shard, sub.Email, sup).Result()
	if err != nil {
		return digest.Subscriber{}, false, fmt.Errorf("store: add subscriber: %w", err)
	}
	if v, ok := vals[0].(string); ok {
		id, _ := strconv.ParseInt(v, 10, 64)
		return s.existing(ctx, id, sub)
	}
	if vals[1] != nil && !liftSuppression {
		return digest.Subscriber{}, false, fmt.Errorf("store: add %s: %w", sub.Email, ErrSuppressed)
	}
	id, err := s.rdb.Incr(ctx, s.keys.subscriberNextID()).Result()
	if err != nil {
		return digest.Subscriber{}, false, fmt.Errorf("store: add subscriber: %w", err)
	}
	res, err := s.eval(ctx, claimEmail, []string{shard}, s.claimArgs(sub, id, liftSuppression)...).Int64Slice()
	if err != nil {
		return digest.Subscriber{}, false, fmt.Errorf("store: add subscriber: %w", err)
	}
	switch {
	case res[0] == -1:
		return digest.Subscriber{}, false, fmt.Errorf("store: add %s: %w", sub.Email, ErrSuppressed)
	case res[1] != id: // added meanwhile by another writer
		return s.existing(ctx, res[1], sub)
	}
	sub.ID = id
	if err := s.create(ctx, sub); err != nil {
		return digest.Subscriber{}, false, err
	}
	return sub, true, nil
}

func (s *Store) claimArgs(sub digest.Subscriber, id int64, lift bool) []any {
	l := "0"
	if lift {
		l = "1"
	}
	return []any{sub.Email, id, suppressionField(sub.Email), l}
}

// existing returns subscriber id, known by its address, and false. An
// index entry without a record (a crash between the two writes of an
// add) gets sub's record now, and counts as added.
func (s *Store) existing(ctx context.Context, id int64, sub digest.Subscriber) (digest.Subscriber, bool, error) {
	got, err := s.Subscriber(ctx, id)
	if !errors.Is(err, ErrNotFound) {
		return got, false, err
	}
	sub.ID = id
	if err := s.create(ctx, sub); err != nil {
		return digest.Subscriber{}, false, err
	}
	return sub, true, nil
}

// create writes sub's records (sub.ID set) unless it has some, and its
// user agent.
func (s *Store) create(ctx context.Context, sub digest.Subscriber) error {
	if err := s.eval(ctx, createRecord, s.recordKeys(sub.ID), s.recordArgs(sub)...).Err(); err != nil {
		return fmt.Errorf("store: add subscriber %d: %w", sub.ID, err)
	}
	return s.recordAgent(ctx, sub.Consent.UserAgent)
}

func (s *Store) recordKeys(id int64) []string {
	return []string{s.keys.subscriberRecords(id), s.keys.subscriberConsents(id), s.keys.groupCounts(id / subscribersPerGroup)}
}

func (s *Store) recordArgs(sub digest.Subscriber) []any {
	return []any{strconv.FormatInt(sub.ID, 10), encodeHot(&sub), encodeConsent(&sub.Consent), string(sub.Status)}
}

func (s *Store) recordAgent(ctx context.Context, ua string) error {
	if ua == "" {
		return nil
	}
	if err := recordAgent.Run(ctx, s.rdb, []string{s.keys.subscriberAgents()}, agentID(ua), ua, maxAgents).Err(); err != nil {
		return fmt.Errorf("store: user agent: %w", err)
	}
	return nil
}

// Subscriber returns subscriber id, or an error wrapping ErrNotFound.
func (s *Store) Subscriber(ctx context.Context, id int64) (digest.Subscriber, error) {
	field := strconv.FormatInt(id, 10)
	pipe := s.rdb.Pipeline()
	hot := pipe.HGet(ctx, s.keys.subscriberRecords(id), field)
	cold := pipe.HGet(ctx, s.keys.subscriberConsents(id), field)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return digest.Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, err)
	}
	if errors.Is(hot.Err(), redis.Nil) {
		return digest.Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, ErrNotFound)
	}
	var sub digest.Subscriber
	if err := decodeHot(id, []byte(hot.Val()), &sub); err != nil {
		return digest.Subscriber{}, err
	}
	agent, err := decodeConsent(id, []byte(cold.Val()), &sub.Consent)
	if err != nil {
		return digest.Subscriber{}, err
	}
	if agent != "" {
		ua, err := s.rdb.HGet(ctx, s.keys.subscriberAgents(), agent).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return digest.Subscriber{}, fmt.Errorf("store: subscriber %d: %w", id, err)
		}
		sub.Consent.UserAgent = ua
	}
	return sub, nil
}

// SubscriberByEmail returns the subscriber with this normalised email, or
// an error wrapping ErrNotFound.
func (s *Store) SubscriberByEmail(ctx context.Context, email string) (digest.Subscriber, error) {
	id, err := s.rdb.HGet(ctx, s.keys.emailIndex(email), email).Int64()
	if errors.Is(err, redis.Nil) {
		return digest.Subscriber{}, fmt.Errorf("store: subscriber %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return digest.Subscriber{}, fmt.Errorf("store: subscriber %s: %w", email, err)
	}
	return s.Subscriber(ctx, id)
}

// casSubscriber replaces a hot record only if it is still the one read,
// with its consent record, and moves the group's status counts.
var casSubscriber = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if ARGV[5] ~= ARGV[6] then
  redis.call('HINCRBY', KEYS[3], ARGV[5], -1)
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
end
return 1
`)

// UpdateSubscriber applies change to subscriber id and stores the result,
// atomically: if another writer changed the subscriber meanwhile, change
// runs again on the new state. change may return ErrUnchanged to store
// nothing. The email cannot be changed.
func (s *Store) UpdateSubscriber(ctx context.Context, id int64, change func(*digest.Subscriber) error) (digest.Subscriber, error) {
	for attempt := 0; attempt < 20; attempt++ {
		old, err := s.Subscriber(ctx, id)
		if err != nil {
			return digest.Subscriber{}, err
		}
		sub := old
		if err := change(&sub); errors.Is(err, ErrUnchanged) {
			return old, nil
		} else if err != nil {
			return digest.Subscriber{}, err
		}
		sub.ID, sub.Email = old.ID, old.Email
		if !sub.Status.Valid() || !sub.Format.Valid() {
			return digest.Subscriber{}, fmt.Errorf("store: update subscriber %d: bad status %q or format %q", id, sub.Status, sub.Format)
		}
		if sub.Consent.UserAgent != old.Consent.UserAgent {
			if err := s.recordAgent(ctx, sub.Consent.UserAgent); err != nil {
				return digest.Subscriber{}, err
			}
		}
		newHot := encodeHot(&sub)
		cmd, retried := s.evalRetried(ctx, casSubscriber, s.recordKeys(id),
			strconv.FormatInt(id, 10), encodeHot(&old), newHot, encodeConsent(&sub.Consent),
			string(old.Status), string(sub.Status))
		ok, err := cmd.Int()
		if err != nil {
			return digest.Subscriber{}, fmt.Errorf("store: update subscriber %d: %w", id, err)
		}
		if ok == 1 {
			return sub, nil
		}
		// Written twice (after a WAIT fell short), the second run finds
		// the first's record: done.
		if cur, err := s.Subscriber(ctx, id); retried && err == nil && string(encodeHot(&cur)) == string(newHot) {
			return sub, nil
		}
	}
	return digest.Subscriber{}, fmt.Errorf("store: update subscriber %d: too much contention", id)
}

// dropRecord erases subscriber ARGV[1]'s records and uncounts its status
// (the status names follow as pairs of a record's status code and the
// name). Returns 1 if there was a record.
var dropRecord = redis.NewScript(`
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local names = {}
for i = 2, #ARGV, 2 do names[ARGV[i]] = ARGV[i + 1] end
local status = names[string.sub(rec, 2, 2)]
if status then redis.call('HINCRBY', KEYS[3], status, -1) end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// suppressEmail drops the address ARGV[1] from its index shard if it
// still names id ARGV[2], and keeps its hash ARGV[3] instead. Returns 1
// if it dropped it.
var suppressEmail = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[3], 1)
return 1
`)

// ForgetSubscriber erases everything kept of the subscriber with this email
// except a hash of the address (suppression). Unknown emails wrap
// ErrNotFound. The records go first, then the index entry: a crash
// between leaves an entry that a second erasure (or an add) finishes.
func (s *Store) ForgetSubscriber(ctx context.Context, email string) error {
	shard := s.keys.emailIndex(email)
	id, err := s.rdb.HGet(ctx, shard, email).Int64()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: subscriber %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: forget subscriber %s: %w", email, err)
	}
	args := []any{strconv.FormatInt(id, 10)}
	for _, st := range digest.Statuses {
		args = append(args, string([]byte{statusCode(st)}), string(st))
	}
	if err := s.eval(ctx, dropRecord, s.recordKeys(id), args...).Err(); err != nil {
		return fmt.Errorf("store: forget subscriber %s: %w", email, err)
	}
	cmd, retried := s.evalRetried(ctx, suppressEmail, []string{shard}, email, id, suppressionField(email))
	n, err := cmd.Int()
	if err != nil {
		return fmt.Errorf("store: forget subscriber %s: %w", email, err)
	}
	if n == 0 && !retried {
		// Another erasure of the address got there first.
		return fmt.Errorf("store: subscriber %s: %w", email, ErrNotFound)
	}
	return nil
}

// CountSubscribers returns the number of subscribers in each status (every
// status present, zero or not): the sum of every group's counts, read in
// one pipelined round trip (100 groups at 100,000 subscribers).
func (s *Store) CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error) {
	counts := make(map[digest.SubscriberStatus]int64, len(digest.Statuses))
	for _, st := range digest.Statuses {
		counts[st] = 0
	}
	maxID, err := s.maxID(ctx)
	if err != nil || maxID == 0 {
		return counts, err
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, 0, maxID/subscribersPerGroup+1) // Equivalent mutant (ARITHMETIC_BASE): a capacity only
	for g := int64(0); g <= maxID/subscribersPerGroup; g++ {
		cmds = append(cmds, pipe.HGetAll(ctx, s.keys.groupCounts(g)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: count subscribers: %w", err)
	}
	for _, c := range cmds {
		for _, st := range digest.Statuses {
			n, _ := strconv.ParseInt(c.Val()[string(st)], 10, 64)
			counts[st] += n
		}
	}
	return counts, nil
}

// maxID is the highest subscriber id given (0 when none).
func (s *Store) maxID(ctx context.Context) (int64, error) {
	n, err := s.rdb.Get(ctx, s.keys.subscriberNextID()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: subscriber ids: %w", err)
	}
	return n, nil
}

// Bounce marks subscriber id bounced — the address does not exist or
// cannot take mail — if it is active or pending, recording when. It
// reports whether it changed the subscriber.
func (s *Store) Bounce(ctx context.Context, id int64, at time.Time) (bool, error) {
	changed := false
	_, err := s.UpdateSubscriber(ctx, id, func(x *digest.Subscriber) error {
		changed = false
		if x.Status != digest.Active && x.Status != digest.Pending {
			return digest.ErrUnchanged
		}
		x.Status = digest.Bounced
		x.Consent.LeftAt, x.Consent.LeftHow = at, "bounce"
		changed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}
