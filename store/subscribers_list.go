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
	if cursor < 1 {
		cursor = 1
	}
	maxID, err := s.rdb.Get(ctx, s.keys.subscriberNextID()).Int64()
	if errors.Is(err, redis.Nil) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: list subscribers: %w", err)
	}
	out := make([]digest.Subscriber, 0, min(limit, subscribersPerBucket))
	for bucket := cursor / subscribersPerBucket; bucket <= maxID/subscribersPerBucket; bucket += bucketsPerRound {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, 0, bucketsPerRound)
		for b := bucket; b < bucket+bucketsPerRound && b <= maxID/subscribersPerBucket; b++ {
			cmds = append(cmds, pipe.HGetAll(ctx, s.keys.subscriberRecordPrefix()+strconv.FormatInt(b, 10)))
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

// ImportSubscribers adds subs in one pipelined round trip (callers batch
// them, ~1000 at a time) and says what happened to each.
func (s *Store) ImportSubscribers(ctx context.Context, subs []digest.Subscriber) ([]digest.AddOutcome, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	// Load the script once, so the pipeline can use EVALSHA throughout.
	if err := addSubscriber.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(subs))
	for i, sub := range subs {
		keys, args := s.addArgs(sub, false)
		cmds[i] = addSubscriber.EvalSha(ctx, pipe, keys, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("store: import: %w", err)
	}
	out := make([]digest.AddOutcome, len(subs))
	for i, cmd := range cmds {
		res, err := cmd.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("store: import %s: %w", subs[i].Email, err)
		}
		switch res[0] {
		case 1:
			out[i] = digest.Added
		case 0:
			out[i] = digest.AlreadyKnown
		default:
			out[i] = digest.Suppressed
		}
	}
	return out, nil
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
