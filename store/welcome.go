package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// markDelivered enters subscriber ARGV[1] in the ledger of an edition as
// delivered, outside the day's send: 0 when it was there already. With a
// job, its sent count grows as a send's would; without one, only the
// ledger is written (the job, made later, skips the subscriber), and it
// expires after ARGV[3] ms unless a job takes it over.
var markDelivered = redis.NewScript(`
local id = tonumber(ARGV[1])
if redis.call('GETBIT', KEYS[2], id) == 1 then return 0 end
redis.call('SETBIT', KEYS[2], id, 1)
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'sent', 1)
  redis.call('HSET', KEYS[1], 'updated', ARGV[2])
end
if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return 1
`)

// MarkDelivered writes in edition's ledger that subscriber id got it
// outside the day's send (the welcome mail of a new subscriber), so that
// the send skips them. It reports false when they were there already.
func (s *Store) MarkDelivered(ctx context.Context, edition string, id int64, now time.Time) (bool, error) {
	sk := s.keys.send(edition)
	n, err := s.eval(ctx, markDelivered, []string{sk.job, sk.delivered}, id, now.UnixMilli(), SendJobTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("store: send ledger %s: %w", edition, err)
	}
	return n == 1, nil
}
