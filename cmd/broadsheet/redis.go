package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/store"
)

// redisConn is an open Redis client and whatever must stop with it.
type redisConn struct {
	rdb   redis.UniversalClient
	close func() error
}

// openRedis connects to the configured Redis. Without a URL it uses the
// private redis-server under the data dir: one already running there (a
// `serve` next to this `build`), or a child it starts; without redis-server
// on PATH, an in-process Redis whose data dies with the process.
func openRedis(ctx context.Context, c *config, logger *slog.Logger) (*redisConn, error) {
	if c.RedisURL != "" {
		rdb, err := clientFromURL(c.RedisURL)
		if err != nil {
			return nil, usageErrorf("--redis-url: %v", err)
		}
		if err := ping(ctx, rdb); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("redis at %s does not answer: %w", redactURL(c.RedisURL), err)
		}
		return &redisConn{rdb: rdb, close: rdb.Close}, nil
	}
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	if _, err := os.Stat(sock); err == nil {
		if rdb := unixClient(sock); ping(ctx, rdb) == nil {
			logger.Debug("Using the private Redis already running", slog.String("socket", sock))
			return &redisConn{rdb: rdb, close: func() error { return closeShared(rdb, nil, logger) }}, nil
		} else {
			rdb.Close()
		}
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		return startChildRedis(ctx, bin, dir, sock, logger)
	}
	logger.Warn("redis-server is not installed and BROADSHEET_REDIS_URL is unset: using an in-memory Redis; NOTHING WILL PERSIST when broadsheet stops. Install redis-server or set BROADSHEET_REDIS_URL.")
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		return nil, fmt.Errorf("in-memory redis: %w", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return &redisConn{rdb: rdb, close: func() error { err := rdb.Close(); m.Close(); return err }}, nil
}

// clientFromURL opens a standalone client, a Sentinel client (the URL has
// master_name=) or a Cluster client (the URL has addr= or cluster=true).
func clientFromURL(raw string) (redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		opts, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(opts), nil
	case q.Has("addr") || q.Get("cluster") == "true":
		q.Del("cluster")
		u.RawQuery = q.Encode()
		opts, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opts), nil
	default:
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		return redis.NewClient(opts), nil
	}
}

// redactURL hides a password in a Redis URL before it is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// unixClient is a client of the private Redis, its connections named after
// this process (and this client: a test runs several in one process) so
// that closeShared can tell them from others'.
func unixClient(sock string) *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1, DialTimeout: time.Second,
		ClientName: fmt.Sprintf("broadsheet-%d-%s", os.Getpid(), rand.Text()[:8])})
}

func ping(ctx context.Context, rdb redis.UniversalClient) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return rdb.Ping(ctx).Err()
}

// startChildRedis starts redis-server on a unix socket in dir, with an
// append-only file there, and returns a client that stops it on close.
func startChildRedis(ctx context.Context, bin, dir, sock string, logger *slog.Logger) (*redisConn, error) {
	if len(sock) > 100 {
		return nil, fmt.Errorf("the data dir path %s is too long for a unix socket; use a shorter --data-dir", dir)
	}
	logPath := filepath.Join(dir, "redis.log")
	cmd := exec.Command(bin,
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--dir", dir, "--appendonly", "yes", "--save", "",
		"--daemonize", "no", "--logfile", logPath)
	// Its own process group: Ctrl-C reaches broadsheet, which then stops
	// Redis in order, after its last write.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	}
	rdb := unixClient(sock)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Ping only once the socket exists: go-redis logs every failed dial.
		if _, err := os.Stat(sock); err == nil && ping(ctx, rdb) == nil {
			break
		}
		select {
		case err := <-exited:
			rdb.Close()
			return nil, fmt.Errorf("redis-server exited at start (%v); see %s", err, logPath)
		case <-ctx.Done():
			rdb.Close()
			stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			rdb.Close()
			stop()
			return nil, fmt.Errorf("redis-server did not answer on %s within 10s; see %s", sock, logPath)
		}
	}
	logger.Info("Started a private redis-server", slog.String("socket", sock), slog.String("data", dir))
	return &redisConn{rdb: rdb, close: func() error { return closeShared(rdb, stop, logger) }}, nil
}

// closeShared closes a client of the private Redis. Other broadsheet
// processes may share that Redis (a serve and a cron's build, two serves
// on one data dir), whoever started it: the last one to leave stops it —
// through stop when it is this process's child, with SHUTDOWN otherwise —
// and the others leave it running.
func closeShared(rdb *redis.Client, stop func() error, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	others, err := otherClients(ctx, rdb)
	if err == nil && others > 0 {
		logger.Debug("Leaving the private Redis running for its other clients", slog.Int("clients", others))
		return rdb.Close()
	}
	if stop != nil {
		cerr := rdb.Close()
		_ = stop()
		return cerr
	}
	// SHUTDOWN closes the connection: its "error" is the expected EOF.
	_ = rdb.Shutdown(ctx).Err()
	return rdb.Close()
}

// otherClients counts the connections to Redis that are not this
// process's (its pool's connections carry its client name).
func otherClients(ctx context.Context, rdb *redis.Client) (int, error) {
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if line != "" && !strings.Contains(line, " name="+rdb.Options().ClientName+" ") {
			n++
		}
	}
	return n, nil
}

// waitReplicas decides how many replicas must acknowledge each ledger and
// subscriber write: the flag's value, or with -1 one when every master
// of the Redis at --redis-url has a replica now (Sentinel, a Cluster
// with replicas), else none (the private Redis has none).
func waitReplicas(ctx context.Context, flag int, fromURL bool, rdb redis.UniversalClient, logger *slog.Logger) (int, error) {
	switch {
	case flag >= 0:
		return flag, nil
	case !fromURL:
		return 0, nil
	}
	n, err := store.DetectReplicas(ctx, rdb)
	if err != nil {
		return 0, fmt.Errorf("redis: count replicas: %w", err)
	}
	if n > 0 {
		logger.Info("Each delivery and subscriber write waits for a replica (WAIT 1), so a failover loses none")
		return 1, nil
	}
	return 0, nil
}
