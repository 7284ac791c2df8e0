package store

import (
	"context"
	"fmt"
	"time"
)

func (k keys) scheduleLock(day string) string { return k.prefix + "schedule:" + day }
func (k keys) idempotency(key string) string  { return k.prefix + "idempotency:" + key }
func (k keys) scheduleSince() string          { return k.prefix + "schedule-since" }

// ScheduleSince returns when the daily schedule first ran against this
// store, recording now if it never did. A run due before then was never
// missed: a fresh store does not catch up.
func (s *Store) ScheduleSince(ctx context.Context, now time.Time) (time.Time, error) {
	v, _, err := s.setOnce(ctx, s.keys.scheduleSince(), formatTime(now), 0)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: schedule start: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: schedule start %q: %w", v, err)
	}
	return t, nil
}

// TakeScheduleLock takes the lock of the scheduled run of day for ttl and
// reports whether it was free: the daily build-and-send runs once across
// instances, and once when a DST change repeats the hour.
func (s *Store) TakeScheduleLock(ctx context.Context, day string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.scheduleLock(day), time.Now().UTC().Format(time.RFC3339), ttl).Result()
	if err != nil {
		return false, fmt.Errorf("store: schedule lock %s: %w", day, err)
	}
	return ok, nil
}

// ScheduleLocked reports whether the scheduled run of day was taken.
func (s *Store) ScheduleLocked(ctx context.Context, day string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.keys.scheduleLock(day)).Result()
	if err != nil {
		return false, fmt.Errorf("store: schedule lock %s: %w", day, err)
	}
	return n == 1, nil
}

// RememberIdempotencyKey binds key to value for a day. It returns the value
// the key was first bound to, and whether this call bound it.
func (s *Store) RememberIdempotencyKey(ctx context.Context, key, value string) (string, bool, error) {
	v, fresh, err := s.setOnce(ctx, s.keys.idempotency(key), value, 24*time.Hour)
	if err != nil {
		return "", false, fmt.Errorf("store: idempotency key: %w", err)
	}
	return v, fresh, nil
}

// ExtendScheduleLock sets the lock of day to expire after ttl.
func (s *Store) ExtendScheduleLock(ctx context.Context, day string, ttl time.Duration) error {
	if err := s.rdb.PExpire(ctx, s.keys.scheduleLock(day), ttl).Err(); err != nil {
		return fmt.Errorf("store: schedule lock %s: %w", day, err)
	}
	return nil
}

// ReleaseScheduleLock frees the lock of day: the run may be made again.
func (s *Store) ReleaseScheduleLock(ctx context.Context, day string) error {
	if err := s.rdb.Del(ctx, s.keys.scheduleLock(day)).Err(); err != nil {
		return fmt.Errorf("store: schedule lock %s: %w", day, err)
	}
	return nil
}
