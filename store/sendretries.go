package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// scheduleRetry notes the first failure of ARGV[1] (at ARGV[2] ms), counts
// a failed try and queues the next one
// after min(ARGV[3] · 2^(tries-1), ARGV[4]) ms from ARGV[2] (ARGV[3] = 0:
// at once, without counting).
var scheduleRetry = redis.NewScript(`
local tries = 0
local delay = 0
redis.call('HSETNX', KEYS[2], 'first:' .. ARGV[1], ARGV[2])
if tonumber(ARGV[3]) > 0 then
  tries = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  delay = math.min(tonumber(ARGV[3]) * 2 ^ math.min(tries - 1, 30), tonumber(ARGV[4]))
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + delay, ARGV[1])
return tries
`)

// ScheduleRetry queues subscriber id for another try: after base,
// doubling with each failed try of that subscriber, at most maxWait; with
// base 0, at once (a run stopping hands its message to the next run).
// It returns the number of failed tries so far.
func (s *Store) ScheduleRetry(ctx context.Context, edition string, id int64, now time.Time, base, maxWait time.Duration) (int, error) {
	sk := s.keys.send(edition)
	n, err := s.eval(ctx, scheduleRetry, []string{sk.retry, sk.attempts},
		id, now.UnixMilli(), base.Milliseconds(), maxWait.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("store: send retry %s: %w", edition, err)
	}
	return n, nil
}

// claimRetries takes up to ARGV[3] retries due at ARGV[1] for one sender:
// their due time moves to ARGV[2] (the lease), so no other sender takes
// them meanwhile, and a sender that dies leaves them due again then.
// Returns the ids, then the due time of the next one not taken (or 0).
var claimRetries = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local out = {}
for i, id in ipairs(ids) do out[i] = tonumber(id) end
if #first > 0 then table.insert(out, tonumber(first[2])) else table.insert(out, 0) end
return out
`)

// ClaimRetries takes up to limit subscriber ids whose retry is due at
// now, leased to the caller until now+lease, and returns when the next
// one is due (zero when none waits).
func (s *Store) ClaimRetries(ctx context.Context, edition string, now time.Time, lease time.Duration, limit int) ([]int64, time.Time, error) {
	sk := s.keys.send(edition)
	res, err := s.eval(ctx, claimRetries, []string{sk.retry}, now.UnixMilli(), now.Add(lease).UnixMilli(), limit).Int64Slice()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: send retry %s: %w", edition, err)
	}
	var next time.Time
	if n := res[len(res)-1]; n > 0 {
		next = time.UnixMilli(n)
	}
	return res[:len(res)-1], next, nil
}

// GiveUpRetries records every subscriber still waiting for a retry as
// failed (the retry deadline passed) and returns how many.
func (s *Store) GiveUpRetries(ctx context.Context, edition string, now time.Time) (int, error) {
	ids, err := s.rdb.ZRange(ctx, s.keys.send(edition).retry, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("store: send retry %s: %w", edition, err)
	}
	for _, m := range ids {
		id, _ := strconv.ParseInt(m, 10, 64)
		if err := s.RecordSend(ctx, edition, id, "failed", now); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// FirstFailures returns, for each id, when its first try failed (zero if
// it never did).
func (s *Store) FirstFailures(ctx context.Context, edition string, ids []int64) ([]time.Time, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = "first:" + strconv.FormatInt(id, 10)
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.send(edition).attempts, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: send retry %s: %w", edition, err)
	}
	out := make([]time.Time, len(ids))
	for i, v := range vals {
		if str, ok := v.(string); ok {
			out[i] = fromMS(str)
		}
	}
	return out, nil
}
