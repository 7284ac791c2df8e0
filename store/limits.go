package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limits kept in Redis, shared by every instance: per-client request rates
// (GCRA), one confirmation mail a day per mailbox, single-use proof-of-work
// challenges. Each is one key with a hash tag of its own (so it lives on
// any Cluster slot) and an expiry, so their memory is bounded by the
// clients seen in the last window.

// gcraScript is the generic cell rate algorithm: KEYS[1] holds the
// theoretical arrival time (Unix ms) of the next request; ARGV[1] is the
// interval between requests (ms), ARGV[2] the burst, ARGV[3] the cost (1:
// take a request, 0: only look). Redis's own clock is used, so every
// instance agrees. It answers {allowed (1/0), ms until the next request
// would be allowed}.
//
// It is a near-copy of sendrate.go's gcra, which counts in µs (a send
// pace of thousands a second needs them) and has no peek; the two could
// become one µs script with a cost argument — not done yet.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat + interval - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
if cost > 0 then
  local new_tat = tat + interval * cost
  redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
end
return {1, 0}
`)

// Allow takes one request from client's budget of perMinute requests a
// minute in bucket (e.g. "subscribe"), or, when it is spent, reports how
// long until the next one is allowed. With peek, it only looks.
func (s *Store) Allow(ctx context.Context, bucket, client string, perMinute int, peek bool) (bool, time.Duration, error) {
	if perMinute < 1 { // Equivalent mutant (CONDITIONALS_BOUNDARY): at exactly 1 it is set to 1.
		perMinute = 1
	}
	interval := time.Minute.Milliseconds() / int64(perMinute)
	cost := 1
	if peek {
		cost = 0
	}
	res, err := gcraScript.Run(ctx, s.rdb, []string{s.keys.rate(bucket, client)}, interval, perMinute, cost).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("store: rate limit: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("store: rate limit: unexpected answer %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}

// claimScript: KEYS[1] holds when the mailbox last got a mail (Unix ms);
// ARGV[1] is now, ARGV[2] the window (ms). It answers 1 and records now
// when the window has passed (or nothing is recorded), else 0.
var claimScript = redis.NewScript(`
local last = tonumber(redis.call('GET', KEYS[1]) or '')
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if last and now - last < window then return 0 end
redis.call('SET', KEYS[1], now, 'PX', window)
return 1
`)

// ClaimMailbox reports whether mailbox got no confirmation mail in the
// window before now, and if so records this one. Only a hash of the
// mailbox is kept, and only for the window.
func (s *Store) ClaimMailbox(ctx context.Context, mailbox string, now time.Time, window time.Duration) (bool, error) {
	n, err := claimScript.Run(ctx, s.rdb, []string{s.keys.mailbox(mailbox)}, now.UnixMilli(), window.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: claim mailbox: %w", err)
	}
	return n == 1, nil
}

// UseOnce records that the single-use token id (a proof-of-work
// challenge's signature) was used, until it expires at until; it reports
// false when it was used before.
func (s *Store) UseOnce(ctx context.Context, id string, until time.Time) (bool, error) {
	ttl := time.Until(until)
	if ttl < time.Second { // Equivalent mutant (CONDITIONALS_BOUNDARY): at exactly a second it is set to a second.
		ttl = time.Second
	}
	ok, err := s.rdb.SetNX(ctx, s.keys.used(id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("store: use once: %w", err)
	}
	return ok, nil
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func (k keys) rate(bucket, client string) string {
	return k.prefix + "rate:" + bucket + ":{" + client + "}"
}
func (k keys) mailbox(m string) string { return k.prefix + "mailbox:{" + hashOf(m) + "}" }
func (k keys) used(id string) string   { return k.prefix + "used:{" + hashOf(id) + "}" }
