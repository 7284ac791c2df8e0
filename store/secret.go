package store

import (
	"context"
	"fmt"
	"time"
)

func (k keys) secret() string { return k.prefix + "secret" }

// Secret returns the signing secret kept in Redis, storing candidate as that
// secret the first time it is asked. It is used when BROADSHEET_SECRET is
// not set, so that links in mails already sent survive restarts.
func (s *Store) Secret(ctx context.Context, candidate string) (string, error) {
	v, _, err := s.setOnce(ctx, s.keys.secret(), candidate, 0)
	if err != nil {
		return "", fmt.Errorf("store: secret: %w", err)
	}
	return v, nil
}

// setOnce stores value at key unless the key holds one (for ttl; 0: no
// expiry), and returns the value the key holds and whether this call set
// it: a value minted once, by whichever instance comes first.
func (s *Store) setOnce(ctx context.Context, key, value string, ttl time.Duration) (string, bool, error) {
	fresh, err := s.rdb.SetNX(ctx, key, value, ttl).Result()
	if err != nil {
		return "", false, err
	}
	if fresh {
		return value, true, nil
	}
	v, err := s.rdb.Get(ctx, key).Result()
	return v, false, err
}
