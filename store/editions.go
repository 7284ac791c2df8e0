package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// saveEdition stores an edition in one step: the same content changes
// nothing; new content keeps the day's feed id and first-published time;
// a new day is indexed and the oldest days past the limit are dropped.
// Every change bumps the version counter and is announced on the events
// channel. Returns 0 unchanged, 1 created, 2 changed, or -N: a change was
// already stored within this second, try again in N ms.
//
// Changes are kept at least a second apart because feeds carry a
// Last-Modified of whole seconds, and readers built on libcurl (newsboat)
// discard a 200 whose Last-Modified is not later than their
// If-Modified-Since: two changes in one second would hide the second one.
var saveEdition = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'hash')
if old == ARGV[4] then return 0 end
if not old and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[8]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if oldest[2] and tonumber(ARGV[7]) < tonumber(oldest[2]) then
    return redis.error_reply('OUTSIDE_WINDOW ' .. oldest[1])
  end
end
local now = tonumber(ARGV[11])
local last = tonumber(redis.call('GET', KEYS[4]) or '0')
local next_second = (math.floor(last / 1000) + 1) * 1000
if now < next_second and next_second - now <= 1000 then
  return now - next_second
end
redis.call('SET', KEYS[4], ARGV[11])
local outcome = 2
if not old then
  outcome = 1
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'feed_id', ARGV[2], 'published', ARGV[12], 'created', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
end
redis.call('HSET', KEYS[1], 'updated', ARGV[3], 'hash', ARGV[4], 'title', ARGV[5], 'page', ARGV[6])
local keep = tonumber(ARGV[8])
local n = redis.call('ZCARD', KEYS[2])
if n > keep then
  local gone = redis.call('ZRANGE', KEYS[2], 0, n - keep - 1)
  for _, id in ipairs(gone) do redis.call('DEL', ARGV[9] .. id) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1)
end
redis.call('INCR', KEYS[3])
redis.call('PUBLISH', ARGV[10], ARGV[1])
return outcome
`)

// SaveEdition stores e, built at now, and returns the edition as stored
// (with its permanent feed id and first-published time) and what changed.
// e.FeedID and e.Published (now when zero) are used only when the day is
// new.
func (s *Store) SaveEdition(ctx context.Context, e digest.Edition, now time.Time) (digest.Edition, digest.Outcome, error) {
	day, err := digest.ParseDay(e.ID)
	if err != nil {
		return digest.Edition{}, 0, fmt.Errorf("store: save edition: %w", err)
	}
	page, err := json.Marshal(e.Page)
	if err != nil {
		return digest.Edition{}, 0, fmt.Errorf("store: save edition %s: %w", e.ID, err)
	}
	score, _ := strconv.Atoi(day.Format("20060102"))
	published := e.Published
	if published.IsZero() {
		published = now
	}
	res, err := saveEdition.Run(ctx, s.rdb,
		[]string{s.keys.edition(e.ID), s.keys.editionIndex(), s.keys.editionsVersion(), s.keys.editionsChanged()},
		e.ID, e.FeedID, formatTime(now), e.Hash, e.Title(), page, score, s.keep,
		s.keys.editionPrefix(), s.keys.events(), now.UnixMilli(), formatTime(published),
	).Int()
	if oldest, ok := strings.CutPrefix(errText(err), "OUTSIDE_WINDOW "); ok {
		return digest.Edition{}, 0, fmt.Errorf("store: save edition %s: %w: the oldest kept is %s (--keep-editions %d)",
			e.ID, ErrOutsideWindow, oldest, s.keep)
	}
	if err != nil {
		return digest.Edition{}, 0, fmt.Errorf("store: save edition %s: %w", e.ID, err)
	}
	if res < 0 {
		return digest.Edition{}, 0, &TooSoonError{Wait: time.Duration(-res) * time.Millisecond}
	}
	saved, err := s.Edition(ctx, e.ID)
	if err != nil {
		return digest.Edition{}, 0, err
	}
	return saved, digest.Outcome(res), nil
}

// ErrOutsideWindow says an edition is older than every kept one while the
// store is full: storing it would delete it at once.
var ErrOutsideWindow = errors.New("the day is older than every kept edition")

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TooSoonError says an edition change was not stored because another was
// stored in the same second: save again (with a new time) after Wait.
type TooSoonError struct{ Wait time.Duration }

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("store: another edition changed less than a second ago; retry in %v", e.Wait)
}

// RetryAfter returns how long to wait before saving again.
func (e *TooSoonError) RetryAfter() time.Duration { return e.Wait }

// Edition returns the stored edition of day id, or an error wrapping
// ErrNotFound.
func (s *Store) Edition(ctx context.Context, id string) (digest.Edition, error) {
	fields, err := s.rdb.HGetAll(ctx, s.keys.edition(id)).Result()
	if err != nil {
		return digest.Edition{}, fmt.Errorf("store: edition %s: %w", id, err)
	}
	return decodeEdition(id, fields)
}

// LatestEditions returns up to n editions, newest day first.
func (s *Store) LatestEditions(ctx context.Context, n int) ([]digest.Edition, error) {
	if n <= 0 {
		return nil, nil
	}
	ids, err := s.rdb.ZRevRange(ctx, s.keys.editionIndex(), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("store: latest editions: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.keys.edition(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: latest editions: %w", err)
	}
	out := make([]digest.Edition, 0, len(ids))
	for i, cmd := range cmds {
		e, err := decodeEdition(ids[i], cmd.Val())
		if errors.Is(err, ErrNotFound) {
			continue // trimmed between the two reads
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Archive lists every kept edition, newest first, without its content.
func (s *Store) Archive(ctx context.Context) ([]digest.Summary, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.keys.editionIndex(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("store: archive: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.keys.edition(id), "title", "updated")
	}
	if len(ids) > 0 { // Equivalent mutant (CONDITIONALS_BOUNDARY): go-redis runs an empty pipeline as a no-op.
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("store: archive: %w", err)
		}
	}
	out := make([]digest.Summary, 0, len(ids))
	for i, cmd := range cmds {
		v := cmd.Val()
		title, _ := v[0].(string)
		updated, _ := v[1].(string)
		if title == "" {
			continue
		}
		t, _ := time.Parse(time.RFC3339Nano, updated)
		out = append(out, digest.Summary{ID: ids[i], Title: title, Updated: t})
	}
	return out, nil
}

// Version returns a counter that grows with every change to the editions.
func (s *Store) Version(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.keys.editionsVersion()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: editions version: %w", err)
	}
	return v, nil
}

// FeedID returns the feed's permanent id, storing candidate as that id the
// first time it is asked.
func (s *Store) FeedID(ctx context.Context, candidate string) (string, error) {
	id, _, err := s.setOnce(ctx, s.keys.feedID(), candidate, 0)
	if err != nil {
		return "", fmt.Errorf("store: feed id: %w", err)
	}
	return id, nil
}

func decodeEdition(id string, f map[string]string) (digest.Edition, error) {
	if len(f) == 0 {
		return digest.Edition{}, fmt.Errorf("store: edition %s: %w", id, ErrNotFound)
	}
	e := digest.Edition{ID: id, FeedID: f["feed_id"], Hash: f["hash"]}
	var err error
	if e.Published, err = time.Parse(time.RFC3339Nano, f["published"]); err != nil {
		return digest.Edition{}, fmt.Errorf("store: edition %s: bad published time: %w", id, err)
	}
	if e.Updated, err = time.Parse(time.RFC3339Nano, f["updated"]); err != nil {
		return digest.Edition{}, fmt.Errorf("store: edition %s: bad updated time: %w", id, err)
	}
	e.Created = e.Published // editions stored before "created" was kept
	if c, ok := f["created"]; ok {
		if e.Created, err = time.Parse(time.RFC3339Nano, c); err != nil {
			return digest.Edition{}, fmt.Errorf("store: edition %s: bad created time: %w", id, err)
		}
	}
	if err := json.Unmarshal([]byte(f["page"]), &e.Page); err != nil {
		return digest.Edition{}, fmt.Errorf("store: edition %s: bad page: %w", id, err)
	}
	return e, nil
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// WatchEditions calls changed whenever the editions may have changed, until
// ctx ends. It listens on the events channel and, in case a message is lost
// while reconnecting, also polls the version counter every poll interval.
func (s *Store) WatchEditions(ctx context.Context, poll time.Duration, changed func()) {
	sub := s.rdb.Subscribe(ctx, s.keys.events())
	defer sub.Close()
	msgs := sub.Channel()
	last, _ := s.Version(ctx)
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-msgs:
			if !ok {
				return
			}
			last, _ = s.Version(ctx)
			changed()
		case <-ticker.C:
			v, err := s.Version(ctx)
			if err != nil {
				s.logger.Warn("Unable to poll editions version", slog.Any("error", err))
				continue
			}
			if v != last {
				last = v
				changed()
			}
		}
	}
}
