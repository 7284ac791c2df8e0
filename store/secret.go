package store

import (
	"context"
	"fmt"
)

func (k keys) secret() string { return k.prefix + "secret" }

// Secret returns the signing secret kept in Redis, storing candidate as that
// secret the first time it is asked. It is used when BROADSHEET_SECRET is
// not set, so that links in mails already sent survive restarts.
func (s *Store) Secret(ctx context.Context, candidate string) (string, error) {
	if err := s.rdb.SetNX(ctx, s.keys.secret(), candidate, 0).Err(); err != nil {
		return "", fmt.Errorf("store: secret: %w", err)
	}
	v, err := s.rdb.Get(ctx, s.keys.secret()).Result()
	if err != nil {
		return "", fmt.Errorf("store: secret: %w", err)
	}
	return v, nil
}
