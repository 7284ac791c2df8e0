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
	// emailIndexBuckets hashes split the email → id index.
	emailIndexBuckets = 4096
)

// ErrSuppressed and ErrUnchanged are digest's, so callers need not import
// store to test for them.
var (
	ErrSuppressed = digest.ErrSuppressed
	ErrUnchanged  = digest.ErrUnchanged
)

func (k keys) subscriberNextID() string       { return k.prefix + "{subs}:next-id" }
func (k keys) subscriberCounts() string       { return k.prefix + "{subs}:counts" }
func (k keys) subscriberSuppressed() string   { return k.prefix + "{subs}:suppressed" }
func (k keys) subscriberAgents() string       { return k.prefix + "{subs}:agents" }
func (k keys) subscriberRecordPrefix() string { return k.prefix + "{subs}:r:" }
func (k keys) subscriberConsentPrefix() string {
	return k.prefix + "{subs}:c:"
}
func (k keys) subscriberRecords(id int64) string {
	return k.subscriberRecordPrefix() + strconv.FormatInt(id/subscribersPerBucket, 10)
}
func (k keys) subscriberConsents(id int64) string {
	return k.subscriberConsentPrefix() + strconv.FormatInt(id/subscribersPerBucket, 10)
}
func (k keys) emailIndex(email string) string {
	return k.prefix + "{subs}:e:" + strconv.Itoa(int(crc32.ChecksumIEEE([]byte(email))%emailIndexBuckets))
}

// suppressionField is what the suppression hash keeps of an erased address:
// 128 bits of its SHA-256, not the address.
func suppressionField(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:16])
}

// addSubscriber creates a subscriber unless the email is known (then it
// returns the existing id) or suppressed. Returns {1, id} created,
// {0, id} existing, {-1} suppressed.
var addSubscriber = redis.NewScript(`
local id = redis.call('HGET', KEYS[2], ARGV[1])
if id then return {0, tonumber(id)} end
if redis.call('HEXISTS', KEYS[4], ARGV[6]) == 1 then
  if ARGV[5] ~= '1' then return {-1} end
  redis.call('HDEL', KEYS[4], ARGV[6])
end
id = redis.call('INCR', KEYS[1])
local bucket = tostring(math.floor(id / tonumber(ARGV[7])))
redis.call('HSET', KEYS[2], ARGV[1], id)
redis.call('HSET', ARGV[8] .. bucket, id, ARGV[2])
redis.call('HSET', ARGV[9] .. bucket, id, ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
if ARGV[10] ~= '' and redis.call('HLEN', KEYS[5]) < tonumber(ARGV[12]) then
  redis.call('HSETNX', KEYS[5], ARGV[10], ARGV[11])
end
return {1, id}
`)

// AddSubscriber stores sub (its Email normalised) as a new subscriber and
// returns it with its id, and true. When the email is already known it
// returns the stored subscriber and false, changing nothing. An erased
// address gives ErrSuppressed unless liftSuppression: its owner may
// subscribe again (through the form, with double opt-in); imports and
// admins may not add it.
func (s *Store) AddSubscriber(ctx context.Context, sub digest.Subscriber, liftSuppression bool) (digest.Subscriber, bool, error) {
	keys, args := s.addArgs(sub, liftSuppression)
	res, err := addSubscriber.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return digest.Subscriber{}, false, fmt.Errorf("store: add subscriber: %w", err)
	}
	return s.addResult(ctx, sub, res)
}

// addArgs are the keys and arguments of addSubscriber for sub. The record
// and consent buckets are named inside the script, from the new id; they
// share the {subs} hash tag with the declared keys.
func (s *Store) addArgs(sub digest.Subscriber, liftSuppression bool) ([]string, []any) {
	lift := "0"
	if liftSuppression {
		lift = "1"
	}
	return []string{s.keys.subscriberNextID(), s.keys.emailIndex(sub.Email), s.keys.subscriberCounts(),
			s.keys.subscriberSuppressed(), s.keys.subscriberAgents()},
		[]any{sub.Email, encodeHot(&sub), encodeConsent(&sub.Consent), string(sub.Status), lift,
			suppressionField(sub.Email), subscribersPerBucket, s.keys.subscriberRecordPrefix(), s.keys.subscriberConsentPrefix(),
			agentID(sub.Consent.UserAgent), sub.Consent.UserAgent, maxAgents}
}

func (s *Store) addResult(ctx context.Context, sub digest.Subscriber, res []int64) (digest.Subscriber, bool, error) {
	switch {
	case len(res) == 1 && res[0] == -1:
		return digest.Subscriber{}, false, fmt.Errorf("store: add %s: %w", sub.Email, ErrSuppressed)
	case len(res) == 2 && res[0] == 1:
		sub.ID = res[1]
		return sub, true, nil
	case len(res) == 2 && res[0] == 0:
		existing, err := s.Subscriber(ctx, res[1])
		return existing, false, err
	}
	return digest.Subscriber{}, false, fmt.Errorf("store: add subscriber: unexpected reply %v", res)
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
// with its consent record, and moves the status counts.
var casSubscriber = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if ARGV[5] ~= ARGV[6] then
  redis.call('HINCRBY', KEYS[3], ARGV[5], -1)
  redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
end
if ARGV[7] ~= '' and redis.call('HLEN', KEYS[4]) < tonumber(ARGV[9]) then
  redis.call('HSETNX', KEYS[4], ARGV[7], ARGV[8])
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
		ok, err := casSubscriber.Run(ctx, s.rdb,
			[]string{s.keys.subscriberRecords(id), s.keys.subscriberConsents(id), s.keys.subscriberCounts(), s.keys.subscriberAgents()},
			strconv.FormatInt(id, 10), encodeHot(&old), encodeHot(&sub), encodeConsent(&sub.Consent),
			string(old.Status), string(sub.Status), agentID(sub.Consent.UserAgent), sub.Consent.UserAgent, maxAgents).Int()
		if err != nil {
			return digest.Subscriber{}, fmt.Errorf("store: update subscriber %d: %w", id, err)
		}
		if ok == 1 {
			return sub, nil
		}
	}
	return digest.Subscriber{}, fmt.Errorf("store: update subscriber %d: too much contention", id)
}

// forgetSubscriber erases a subscriber's records and index entry and keeps
// only a hash of the address, so imports cannot add it again. It reads the
// id and status itself, so concurrent erasures count once. Returns the
// erased id, or 0 when the address was not (or no longer) there.
var forgetSubscriber = redis.NewScript(`
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return 0 end
local bucket = tostring(math.floor(tonumber(id) / tonumber(ARGV[3])))
local rec = redis.call('HGET', ARGV[4] .. bucket, id)
redis.call('HDEL', KEYS[1], ARGV[1])
if rec then
  local names = {}
  for i = 6, #ARGV, 2 do names[ARGV[i]] = ARGV[i + 1] end
  local status = names[string.sub(rec, 2, 2)]
  if status then redis.call('HINCRBY', KEYS[2], status, -1) end
  redis.call('HDEL', ARGV[4] .. bucket, id)
  redis.call('HDEL', ARGV[5] .. bucket, id)
end
redis.call('HSET', KEYS[3], ARGV[2], 1)
return tonumber(id)
`)

// ForgetSubscriber erases everything kept of the subscriber with this email
// except a hash of the address (suppression). Unknown emails wrap
// ErrNotFound.
func (s *Store) ForgetSubscriber(ctx context.Context, email string) error {
	args := []any{email, suppressionField(email), subscribersPerBucket,
		s.keys.subscriberRecordPrefix(), s.keys.subscriberConsentPrefix()}
	// Then pairs of a record's status code and the status's name.
	for _, st := range digest.Statuses {
		args = append(args, string([]byte{statusCode(st)}), string(st))
	}
	id, err := forgetSubscriber.Run(ctx, s.rdb,
		[]string{s.keys.emailIndex(email), s.keys.subscriberCounts(), s.keys.subscriberSuppressed()}, args...).Int64()
	if err != nil {
		return fmt.Errorf("store: forget subscriber %s: %w", email, err)
	}
	if id == 0 {
		return fmt.Errorf("store: subscriber %s: %w", email, ErrNotFound)
	}
	return nil
}

// CountSubscribers returns the number of subscribers in each status (every
// status present, zero or not).
func (s *Store) CountSubscribers(ctx context.Context) (map[digest.SubscriberStatus]int64, error) {
	raw, err := s.rdb.HGetAll(ctx, s.keys.subscriberCounts()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: count subscribers: %w", err)
	}
	counts := make(map[digest.SubscriberStatus]int64, len(digest.Statuses))
	for _, st := range digest.Statuses {
		n, _ := strconv.ParseInt(raw[string(st)], 10, 64)
		counts[st] = n
	}
	return counts, nil
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
