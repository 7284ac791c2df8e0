package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// keepDailyCounts is how many days of active-subscriber counts are kept.
const keepDailyCounts = 400

func (k keys) activeDaily() string { return k.prefix + "{stats}:active-daily" }

// recordDaily sets one day's count and drops the oldest days past the
// bound (days sort as text: YYYY-MM-DD).
var recordDaily = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = redis.call('HLEN', KEYS[1])
if n > tonumber(ARGV[3]) then
  local days = redis.call('HKEYS', KEYS[1])
  table.sort(days)
  for i = 1, n - tonumber(ARGV[3]) do redis.call('HDEL', KEYS[1], days[i]) end
end
return 1
`)

// RecordDailyActive keeps n as the number of active subscribers on day
// (YYYY-MM-DD); a later call for the same day replaces it, so a day's
// figure is its last sample.
func (s *Store) RecordDailyActive(ctx context.Context, day string, n int64) error {
	if err := recordDaily.Run(ctx, s.rdb, []string{s.keys.activeDaily()}, day, n, keepDailyCounts).Err(); err != nil {
		return fmt.Errorf("store: record daily count: %w", err)
	}
	return nil
}

// DailyActive returns the recorded active-subscriber counts by day
// (YYYY-MM-DD); days without a sample are absent.
func (s *Store) DailyActive(ctx context.Context) (map[string]int64, error) {
	raw, err := s.rdb.HGetAll(ctx, s.keys.activeDaily()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: daily counts: %w", err)
	}
	out := make(map[string]int64, len(raw))
	for day, v := range raw {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[day] = n
		}
	}
	return out, nil
}
