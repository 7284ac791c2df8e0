package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// bucketsPerRound is how many record buckets one round trip reads.
const bucketsPerRound = 8

// Subscribers returns up to limit subscribers with id ≥ cursor, in id order,
// of status (all statuses when status is ""), and the cursor to pass next
// (0 when there are no more). Memory is bounded by limit plus a few buckets,
// whatever the audience.
func (s *Store) Subscribers(ctx context.Context, status digest.SubscriberStatus, cursor int64, limit int) ([]digest.Subscriber, int64, error) {
	if limit <= 0 {
		limit = 100
	}
	if cursor < 1 { // Equivalent mutant (CONDITIONALS_BOUNDARY): at exactly 1 it is set to 1.
		cursor = 1
	}
	maxID, err := s.maxID(ctx)
	if err != nil || maxID == 0 {
		return nil, 0, err
	}
	out := make([]digest.Subscriber, 0, min(limit, subscribersPerBucket))
	for bucket := cursor / subscribersPerBucket; bucket <= maxID/subscribersPerBucket; bucket += bucketsPerRound { // Equivalent mutant (ARITHMETIC_BASE, maxID*subscribersPerBucket): the inner loop still stops at the last bucket, so the extra rounds send nothing.
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, 0, bucketsPerRound)
		for b := bucket; b < bucket+bucketsPerRound && b <= maxID/subscribersPerBucket; b++ {
			cmds = append(cmds, pipe.HGetAll(ctx, s.keys.recordBucket(b)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("store: list subscribers: %w", err)
		}
		for _, cmd := range cmds {
			page, err := decodeBucket(cmd.Val(), status, cursor)
			if err != nil {
				return nil, 0, err
			}
			for _, sub := range page {
				if len(out) == limit {
					return out, sub.ID, nil
				}
				out = append(out, sub)
			}
		}
	}
	return out, 0, nil
}

// decodeBucket decodes one record bucket's subscribers with id ≥ from and
// the given status (any when ""), in id order. Consent is not read.
func decodeBucket(fields map[string]string, status digest.SubscriberStatus, from int64) ([]digest.Subscriber, error) {
	page := make([]digest.Subscriber, 0, len(fields))
	for f, v := range fields {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id < from {
			continue
		}
		var sub digest.Subscriber
		if err := decodeHot(id, []byte(v), &sub); err != nil {
			return nil, err
		}
		if status == "" || sub.Status == status {
			page = append(page, sub)
		}
	}
	slices.SortFunc(page, func(a, b digest.Subscriber) int { return int(a.ID - b.ID) })
	return page, nil
}

// SubscriberRange returns the subscribers with from ≤ id < to of status
// (any when ""), in id order, reading only the buckets of that range.
func (s *Store) SubscriberRange(ctx context.Context, status digest.SubscriberStatus, from, to int64) ([]digest.Subscriber, error) {
	if from < 1 { // Equivalent mutant (CONDITIONALS_BOUNDARY): at exactly 1 it is set to 1.
		from = 1
	}
	var out []digest.Subscriber
	pipe := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for b := from / subscribersPerBucket; b <= (to-1)/subscribersPerBucket; b++ {
		cmds = append(cmds, pipe.HGetAll(ctx, s.keys.recordBucket(b)))
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: list subscribers: %w", err)
	}
	for _, cmd := range cmds {
		page, err := decodeBucket(cmd.Val(), status, from)
		if err != nil {
			return nil, err
		}
		for _, sub := range page {
			if sub.ID < to {
				out = append(out, sub)
			}
		}
	}
	return out, nil
}

// ImportSubscribers adds subs in a few pipelined round trips (callers
// batch them, ~1000 at a time) and says what happened to each: which
// addresses are known or suppressed; ids for the others; their index
// entries; their records. Imports do not wait for replicas: an import
// cut short by a failover is run again, and adds only what is missing.
func (s *Store) ImportSubscribers(ctx context.Context, subs []digest.Subscriber) ([]digest.AddOutcome, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	out := make([]digest.AddOutcome, len(subs))
	pipe := s.rdb.Pipeline()
	known := make([]*redis.SliceCmd, len(subs))
	for i, sub := range subs {
		known[i] = pipe.HMGet(ctx, s.keys.emailIndex(sub.Email), sub.Email, suppressionField(sub.Email))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	var fresh []int // subs to add
	existing := map[int]int64{}
	for i, k := range known {
		v := k.Val()
		switch {
		case v[0] != nil:
			id, _ := strconv.ParseInt(v[0].(string), 10, 64)
			existing[i] = id
		case v[1] != nil:
			out[i] = digest.Suppressed
		default:
			fresh = append(fresh, i)
		}
	}
	var last int64
	if len(fresh) > 0 { // Equivalent mutant (CONDITIONALS_BOUNDARY): INCRBY 0 only reads the counter, and no id is used.
		var err error
		if last, err = s.rdb.IncrBy(ctx, s.keys.subscriberNextID(), int64(len(fresh))).Result(); err != nil {
			return nil, fmt.Errorf("store: import: %w", err)
		}
	}
	if err := s.loadScripts(ctx, claimEmail, createRecord, recordAgent); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	pipe = s.rdb.Pipeline()
	claims := make(map[int]*redis.Cmd, len(fresh))
	for j, i := range fresh {
		id := last - int64(len(fresh)) + 1 + int64(j)
		subs[i].ID = id
		claims[i] = claimEmail.EvalSha(ctx, pipe, []string{s.keys.emailIndex(subs[i].Email)}, s.claimArgs(subs[i], id, false)...)
	}
	present := make(map[int]*redis.BoolCmd, len(existing))
	for i, id := range existing {
		present[i] = pipe.HExists(ctx, s.keys.subscriberRecords(id), strconv.FormatInt(id, 10))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	pipe = s.rdb.Pipeline()
	write := func(i int, id int64) {
		sub := subs[i]
		sub.ID = id
		createRecord.EvalSha(ctx, pipe, s.recordKeys(id), s.recordArgs(sub)...)
		if sub.Consent.UserAgent != "" {
			recordAgent.EvalSha(ctx, pipe, []string{s.keys.subscriberAgents()}, agentID(sub.Consent.UserAgent), sub.Consent.UserAgent, maxAgents)
		}
		out[i] = digest.Added
	}
	for i, c := range claims {
		res, err := c.Int64Slice()
		switch {
		case err != nil:
			return nil, fmt.Errorf("store: import %s: %w", subs[i].Email, err)
		case res[0] == -1:
			out[i] = digest.Suppressed
		case res[0] == 1:
			write(i, res[1])
		default:
			out[i] = digest.AlreadyKnown // the same address twice in the batch, or added meanwhile
		}
	}
	for i, p := range present {
		if p.Val() {
			out[i] = digest.AlreadyKnown
		} else {
			write(i, existing[i]) // an index entry left without its record
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	return out, nil
}

// loadScripts loads scripts (on every master of a cluster), so that a
// pipeline can use EVALSHA throughout.
func (s *Store) loadScripts(ctx context.Context, scripts ...*redis.Script) error {
	for _, sc := range scripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return err
		}
	}
	return nil
}

// FillConsent reads the consent records of subs in one round trip.
func (s *Store) FillConsent(ctx context.Context, subs []digest.Subscriber) error {
	if len(subs) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(subs))
	for i, sub := range subs {
		cmds[i] = pipe.HGet(ctx, s.keys.subscriberConsents(sub.ID), strconv.FormatInt(sub.ID, 10))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("store: consent records: %w", err)
	}
	agents := make([]string, len(subs))
	var ids []string
	for i := range subs {
		agent, err := decodeConsent(subs[i].ID, []byte(cmds[i].Val()), &subs[i].Consent)
		if err != nil {
			return err
		}
		agents[i] = agent
		if agent != "" {
			ids = append(ids, agent)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	uas, err := s.rdb.HMGet(ctx, s.keys.subscriberAgents(), ids...).Result()
	if err != nil {
		return fmt.Errorf("store: consent records: %w", err)
	}
	byID := make(map[string]string, len(ids))
	for i, id := range ids {
		ua, _ := uas[i].(string)
		byID[id] = ua
	}
	for i := range subs {
		subs[i].Consent.UserAgent = byID[agents[i]]
	}
	return nil
}

// MaxSubscriberID is the highest subscriber id given (0 when none): a new
// send job covers ids 1 … it.
func (s *Store) MaxSubscriberID(ctx context.Context) (int64, error) { return s.maxID(ctx) }
