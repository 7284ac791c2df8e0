package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The outbox holds mails to send outside the request that asked for them
// (confirmations): a queue, and the jobs being sent, each with a lease.
// A job whose lease ends — its sender crashed, or the mail server said
// "later" — goes back to the queue, so a mail is never lost.

func (k keys) outboxQueue() string    { return k.prefix + "{outbox}:queue" }
func (k keys) outboxInflight() string { return k.prefix + "{outbox}:inflight" }

// EnqueueMail adds a job (an opaque string, unique) to the outbox.
func (s *Store) EnqueueMail(ctx context.Context, job string) error {
	if err := s.rdb.RPush(ctx, s.keys.outboxQueue(), job).Err(); err != nil {
		return fmt.Errorf("store: outbox: %w", err)
	}
	return nil
}

// claimMail returns expired jobs to the queue, then moves the first queued
// job to the in-flight set with a lease ending at ARGV[2].
var claimMail = redis.NewScript(`
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, job in ipairs(expired) do
  redis.call('ZREM', KEYS[2], job)
  redis.call('RPUSH', KEYS[1], job)
end
local job = redis.call('LPOP', KEYS[1])
if not job then return false end
redis.call('ZADD', KEYS[2], ARGV[2], job)
return job
`)

// ClaimMail takes the next job from the outbox for lease; ok is false when
// the outbox is empty. Ack it once sent; unacknowledged, it is queued
// again when the lease ends.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration) (job string, ok bool, err error) {
	job, err = claimMail.Run(ctx, s.rdb, []string{s.keys.outboxQueue(), s.keys.outboxInflight()},
		now.UnixMilli(), now.Add(lease).UnixMilli()).Text()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: outbox: %w", err)
	}
	return job, true, nil
}

// AckMail removes a claimed job: it is done (sent, or given up).
func (s *Store) AckMail(ctx context.Context, job string) error {
	if err := s.rdb.ZRem(ctx, s.keys.outboxInflight(), job).Err(); err != nil {
		return fmt.Errorf("store: outbox: %w", err)
	}
	return nil
}

// DeferMail keeps a claimed job in flight until until: its sender tries it
// again then (a backoff after a temporary failure). A job not in flight
// (acknowledged meanwhile) is left alone.
func (s *Store) DeferMail(ctx context.Context, job string, until time.Time) error {
	err := s.rdb.ZAddXX(ctx, s.keys.outboxInflight(), redis.Z{Score: float64(until.UnixMilli()), Member: job}).Err()
	if err != nil {
		return fmt.Errorf("store: outbox: %w", err)
	}
	return nil
}
