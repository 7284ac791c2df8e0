package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func (k keys) sendRate() string { return k.prefix + "{rate}:send" }

// gcra is the generic cell rate algorithm on one key: the theoretical
// arrival time (TAT, µs on the server's clock, shared by every
// instance). ARGV[1] is the interval between messages and ARGV[2] the
// burst tolerance, both in µs. Returns 0 when a message may go now (and
// counts it), else how many µs to wait.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - tonumber(ARGV[2])
if now < allow_at then return math.ceil(allow_at - now) end
local new = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1000)
return 0
`)

// PaceSend waits until one more message may go at rate messages per
// second over every instance sharing this Redis (bursts of up to burst),
// and counts it. All instances must use the same rate.
func (s *Store) PaceSend(ctx context.Context, rate float64, burst int) error {
	interval := 1e6 / rate
	tolerance := interval * float64(max(burst, 1)-1)
	for {
		wait, err := gcra.Run(ctx, s.rdb, []string{s.keys.sendRate()}, int64(interval), int64(tolerance)).Int64()
		if err != nil {
			return fmt.Errorf("store: send rate: %w", err)
		}
		if wait <= 0 {
			return nil
		}
		select {
		case <-time.After(time.Duration(wait) * time.Microsecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
