package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxSessions bounds the admin console's sessions: opening one more ends
// the oldest.
const maxSessions = 1000

// The console's keys share the hash tag {admin}, so the session script
// runs on Redis Cluster.
func (k keys) consoleSession(hash string) string { return k.prefix + "{admin}:session:" + hash }
func (k keys) consoleSessionPrefix() string      { return k.prefix + "{admin}:session:" }
func (k keys) consoleSessions() string           { return k.prefix + "{admin}:sessions" }
func (k keys) loginFailures(ip string) string    { return k.prefix + "{admin}:login-failures:" + ip }

// sessionHash is what Redis keeps of a session id: a copy of the database
// does not hand out live cookies.
func sessionHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

// createSession stores a session, first dropping the expired ones from the
// index and, at the bound, the oldest.
var createSession = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
while redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  redis.call('DEL', ARGV[6] .. oldest[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[7])
return 1
`)

// CreateSession opens an admin console session: id (the cookie's value)
// maps to csrf (the token its forms carry) until ttl has passed.
func (s *Store) CreateSession(ctx context.Context, id, csrf string, ttl time.Duration, now time.Time) error {
	h := sessionHash(id)
	err := createSession.Run(ctx, s.rdb, []string{s.keys.consoleSession(h), s.keys.consoleSessions()},
		csrf, ttl.Milliseconds(), now.UnixMilli(), now.Add(ttl).UnixMilli(), maxSessions,
		s.keys.consoleSessionPrefix(), h).Err()
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// Session returns the CSRF token of session id, or an error wrapping
// ErrNotFound when it does not exist or has expired.
func (s *Store) Session(ctx context.Context, id string) (string, error) {
	csrf, err := s.rdb.Get(ctx, s.keys.consoleSession(sessionHash(id))).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: session: %w", err)
	}
	return csrf, nil
}

// DeleteSession ends session id (logging out); an unknown id is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	h := sessionHash(id)
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, s.keys.consoleSession(h))
	pipe.ZRem(ctx, s.keys.consoleSessions(), h)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// countFailure counts a failed login in a window starting at the first
// failure; the limit-th failure starts the window again, so the IP waits a
// whole window after it.
var countFailure = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// AddLoginFailure counts a failed console login from ip and returns the
// failures counted in the window (which starts at the first failure and
// lasts window). The limit-th failure restarts the window: with callers
// refusing an IP at limit failures, no window of that length, sliding or
// not, holds more than limit failures.
func (s *Store) AddLoginFailure(ctx context.Context, ip string, window time.Duration, limit int64) (int64, error) {
	n, err := countFailure.Run(ctx, s.rdb, []string{s.keys.loginFailures(ip)}, window.Milliseconds(), limit).Int64()
	if err != nil {
		return 0, fmt.Errorf("store: login failure: %w", err)
	}
	return n, nil
}

// LoginFailures returns the failed logins from ip in the current window,
// and how long until it ends.
func (s *Store) LoginFailures(ctx context.Context, ip string) (int64, time.Duration, error) {
	pipe := s.rdb.Pipeline()
	get := pipe.Get(ctx, s.keys.loginFailures(ip))
	ttl := pipe.PTTL(ctx, s.keys.loginFailures(ip))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("store: login failures: %w", err)
	}
	n, _ := strconv.ParseInt(get.Val(), 10, 64)
	return n, max(ttl.Val(), 0), nil
}
