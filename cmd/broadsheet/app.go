package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/templates"
)

// app gathers the parts every command that publishes shares.
type app struct {
	cfg    *config
	logger *slog.Logger
	redis  *redisConn
	store  *store.Store
	pages  *templates.Set
	pub    *publish.Publisher
}

// newApp validates cfg and wires the parts. Close releases them.
func newApp(ctx context.Context, cfg *config, sys stdio) (*app, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger, err := cfg.logger(sys.stderr)
	if err != nil {
		return nil, err
	}
	pages, err := templates.New()
	if err != nil {
		return nil, err
	}
	conn, err := openRedis(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	st := store.New(conn.rdb, store.Options{Prefix: cfg.RedisPrefix, KeepEditions: cfg.KeepEditions, Logger: logger})
	pub := publish.New(st, pages, publish.Config{
		Title:    cfg.Title,
		BaseURL:  cfg.baseURL,
		Location: cfg.location,
	}, time.Now, logger)
	return &app{cfg: cfg, logger: logger, redis: conn, store: st, pages: pages, pub: pub}, nil
}

func (a *app) Close() error { return a.redis.close() }
