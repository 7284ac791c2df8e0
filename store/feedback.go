package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Feedback keys share the hash tag {feedback}: one script writes them
// together.
func (k keys) feedbackEvents() string { return k.prefix + "{feedback}:events" }
func (k keys) feedbackSeen(id int64) string {
	return k.prefix + "{feedback}:seen:" + strconv.FormatInt(id, 10)
}
func (k keys) feedbackRecent(id int64) string {
	return k.prefix + "{feedback}:recent:" + strconv.FormatInt(id, 10)
}
func (k keys) feedbackEdition(edition string) string {
	return k.prefix + "{feedback}:edition:" + edition
}

const (
	// FeedbackKeep is how long feedback events are kept.
	FeedbackKeep = 90 * 24 * time.Hour
	// MaxFeedbackEvents bounds the event log whatever its age.
	MaxFeedbackEvents = 500_000
	// RecentFeedback is how many events are kept per subscriber for the
	// admin API.
	RecentFeedback = 10
)

// recordFeedback records one event unless the same report (subscriber,
// kind, ref) was recorded within the keep time, and counts the soft
// bounces of the subscriber within the window either way. KEYS: events,
// seen hash, recent list. ARGV: field (kind:ref), now ms, keep ms, window
// ms, max events, recent kept, the recent list's JSON, then the event's
// field/value pairs. Returns {fresh, soft bounces in the window}.
var recordFeedback = redis.NewScript(`
local now, keep, window = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fresh = redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
local soft = 0
local seen = redis.call('HGETALL', KEYS[2])
for i = 1, #seen, 2 do
  local t = tonumber(seen[i + 1])
  if t < now - keep then
    redis.call('HDEL', KEYS[2], seen[i])
  elseif string.sub(seen[i], 1, 5) == 'soft:' and t >= now - window then
    soft = soft + 1
  end
end
redis.call('PEXPIRE', KEYS[2], keep)
if fresh == 1 then
  local fields = {}
  for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
  redis.call('XTRIM', KEYS[1], 'MINID', tostring(now - keep))
  redis.call('LPUSH', KEYS[3], ARGV[7])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[6]) - 1)
  redis.call('PEXPIRE', KEYS[3], keep)
end
return {fresh, soft}
`)

// RecordFeedback keeps ev unless the same report — same subscriber, kind
// and ref (the mail it is about: an edition, a confirmation mail, a
// provider's message id) — was kept within FeedbackKeep: a replayed report
// is not fresh. It returns whether ev is fresh and how many soft bounces
// (ev included when soft) the subscriber had within softWindow.
func (s *Store) RecordFeedback(ctx context.Context, ev digest.FeedbackEvent, ref string, softWindow time.Duration) (fresh bool, soft int, err error) {
	if ev.Subscriber <= 0 || ev.Kind == "" || strings.ContainsAny(ev.Kind, ":") {
		return false, 0, fmt.Errorf("store: record feedback: bad event %+v", ev)
	}
	recent, err := json.Marshal(eventJSON(ev))
	if err != nil {
		return false, 0, fmt.Errorf("store: record feedback: %w", err)
	}
	now := ev.At.UnixMilli()
	res, err := recordFeedback.Run(ctx, s.rdb,
		[]string{s.keys.feedbackEvents(), s.keys.feedbackSeen(ev.Subscriber), s.keys.feedbackRecent(ev.Subscriber)},
		ev.Kind+":"+ref, now, FeedbackKeep.Milliseconds(), softWindow.Milliseconds(), MaxFeedbackEvents, RecentFeedback, recent,
		"sub", ev.Subscriber, "email", ev.Email, "edition", ev.Edition, "kind", ev.Kind,
		"diag", ev.Diagnostic, "source", ev.Source, "at", now).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, 0, fmt.Errorf("store: record feedback: %w", err)
	}
	return res[0] == 1, int(res[1]), nil
}

type storedEvent struct {
	Subscriber int64  `json:"s"`
	Email      string `json:"e"`
	Edition    string `json:"n,omitempty"`
	Kind       string `json:"k"`
	Diagnostic string `json:"d,omitempty"`
	Source     string `json:"o"`
	At         int64  `json:"t"`
}

func eventJSON(ev digest.FeedbackEvent) storedEvent {
	return storedEvent{Subscriber: ev.Subscriber, Email: ev.Email, Edition: ev.Edition, Kind: ev.Kind,
		Diagnostic: ev.Diagnostic, Source: ev.Source, At: ev.At.UnixMilli()}
}

// CountEditionFeedback adds one to what came back for edition: outcome
// "bounced" or "complained". The counts expire FeedbackKeep after the last.
func (s *Store) CountEditionFeedback(ctx context.Context, edition, outcome string) error {
	if _, err := digest.ParseDay(edition); err != nil {
		return nil // a confirmation mail, or not known
	}
	key := s.keys.feedbackEdition(edition)
	pipe := s.rdb.TxPipeline()
	pipe.HIncrBy(ctx, key, outcome, 1)
	pipe.PExpire(ctx, key, FeedbackKeep)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: count feedback of %s: %w", edition, err)
	}
	return nil
}

// EditionFeedback returns how many subscribers reports about edition
// marked bounced and complained.
func (s *Store) EditionFeedback(ctx context.Context, edition string) (bounced, complained int64, err error) {
	vals, err := s.rdb.HMGet(ctx, s.keys.feedbackEdition(edition), "bounced", "complained").Result()
	if err != nil {
		return 0, 0, fmt.Errorf("store: feedback of %s: %w", edition, err)
	}
	n := func(v any) int64 { s, _ := v.(string); x, _ := strconv.ParseInt(s, 10, 64); return x }
	return n(vals[0]), n(vals[1]), nil
}

// RecentFeedback returns subscriber id's last events, newest first.
func (s *Store) RecentFeedback(ctx context.Context, id int64) ([]digest.FeedbackEvent, error) {
	raw, err := s.rdb.LRange(ctx, s.keys.feedbackRecent(id), 0, RecentFeedback-1).Result() // Equivalent mutant (ARITHMETIC_BASE, INVERT_NEGATIVES): the list is trimmed to RecentFeedback when written, so a longer range reads the same.
	if err != nil {
		return nil, fmt.Errorf("store: recent feedback of %d: %w", id, err)
	}
	out := make([]digest.FeedbackEvent, 0, len(raw))
	for _, r := range raw {
		var e storedEvent
		if json.Unmarshal([]byte(r), &e) != nil {
			continue
		}
		out = append(out, digest.FeedbackEvent{Subscriber: e.Subscriber, Email: e.Email, Edition: e.Edition, Kind: e.Kind,
			Diagnostic: e.Diagnostic, Source: e.Source, At: time.UnixMilli(e.At).UTC()})
	}
	return out, nil
}

// ErrBadCursor says a feedback cursor is not one FeedbackEvents gave.
var ErrBadCursor = errors.New("store: bad cursor")

// FeedbackEvents returns up to limit events of kind ("" for any), newest
// first, older than cursor ("" to start), and the cursor of the next page
// ("" at the end). At most 10,000 events are looked at per call, so a rare
// kind may give a short page with a next cursor.
func (s *Store) FeedbackEvents(ctx context.Context, kind, cursor string, limit int) ([]digest.FeedbackEvent, string, error) {
	end := "+"
	if cursor != "" {
		ms, seq, ok := strings.Cut(cursor, "-")
		if _, err := strconv.ParseUint(ms, 10, 64); err != nil || !ok {
			return nil, "", ErrBadCursor
		}
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return nil, "", ErrBadCursor
		}
		end = "(" + cursor
	}
	var out []digest.FeedbackEvent
	const chunk, maxScan = 500, 10_000
	for scanned := 0; scanned < maxScan; {
		msgs, err := s.rdb.XRevRangeN(ctx, s.keys.feedbackEvents(), end, "-", chunk).Result()
		if err != nil {
			return nil, "", fmt.Errorf("store: feedback events: %w", err)
		}
		for _, m := range msgs {
			scanned++
			end = "(" + m.ID
			ev := eventOf(m)
			if kind != "" && ev.Kind != kind {
				continue
			}
			out = append(out, ev)
			if len(out) == limit {
				return out, m.ID, nil
			}
		}
		if len(msgs) < chunk {
			return out, "", nil
		}
	}
	return out, strings.TrimPrefix(end, "("), nil
}

func eventOf(m redis.XMessage) digest.FeedbackEvent {
	str := func(k string) string { v, _ := m.Values[k].(string); return v }
	id, _ := strconv.ParseInt(str("sub"), 10, 64)
	at, _ := strconv.ParseInt(str("at"), 10, 64)
	return digest.FeedbackEvent{ID: m.ID, Subscriber: id, Email: str("email"), Edition: str("edition"), Kind: str("kind"),
		Diagnostic: str("diag"), Source: str("source"), At: time.UnixMilli(at).UTC()}
}
