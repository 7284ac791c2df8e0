// Package store keeps broadsheet's state in Redis: editions, subscribers,
// delivery ledgers, send jobs, the subscription outbox and the locks and
// keys around them. Every key is listed in README.md beside this file.
package store

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
)

// ErrNotFound is digest.ErrNotFound: callers outside store test for it
// without importing store.
var ErrNotFound = digest.ErrNotFound

// DefaultPrefix is the key prefix used when none is configured.
const DefaultPrefix = "broadsheet:"

// DefaultKeepEditions is how many editions are kept when no limit is
// configured: about three years of dailies.
const DefaultKeepEditions = 1000

// Options configure a Store.
type Options struct {
	// Prefix starts every key, e.g. "broadsheet:".
	Prefix string
	// KeepEditions bounds the editions kept; storing one more deletes the
	// oldest. Zero means DefaultKeepEditions.
	KeepEditions int
	// WaitReplicas is how many replicas must acknowledge a write of the
	// delivery ledger or of a subscriber before it counts (WAIT), so that
	// a failover loses none; 0 waits for none (a lone server). See
	// DetectReplicas.
	WaitReplicas int
	Logger       *slog.Logger
}

// Store is broadsheet's Redis store. It is safe for concurrent use.
type Store struct {
	rdb          redis.UniversalClient
	keys         keys
	keep         int
	waitReplicas int
	logger       *slog.Logger
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.KeepEditions <= 0 {
		opts.KeepEditions = DefaultKeepEditions
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{rdb: rdb, keys: keys{prefix: opts.Prefix}, keep: opts.KeepEditions, waitReplicas: opts.WaitReplicas, logger: opts.Logger}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// keys names every key the store writes. Edition keys share the hash tag
// {editions} so the save script runs on Redis Cluster.
type keys struct{ prefix string }

func (k keys) edition(id string) string { return k.prefix + "{editions}:edition:" + id }
func (k keys) editionPrefix() string    { return k.prefix + "{editions}:edition:" }
func (k keys) editionIndex() string     { return k.prefix + "{editions}:index" }
func (k keys) editionsVersion() string  { return k.prefix + "{editions}:version" }
func (k keys) editionsChanged() string  { return k.prefix + "{editions}:changed" }
func (k keys) feedID() string           { return k.prefix + "{editions}:feed-id" }
func (k keys) events() string           { return k.prefix + "events" }
