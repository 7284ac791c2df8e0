package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated says a write was not acknowledged by the replicas the
// store waits for (Options.WaitReplicas) within the time allowed: a
// failover could still lose it.
var ErrNotReplicated = errors.New("store: the write was not acknowledged by a replica")

// replicaWait bounds one WAIT; durableFor bounds all tries of one write
// (a Sentinel failover takes a few seconds).
const (
	replicaWait = time.Second
	durableFor  = 30 * time.Second
)

// eval runs script. When the store waits for replicas, it runs it on the
// master of keys[0] (all of a script's keys share its slot) on one
// connection, followed by WAIT there: the write counts only once that
// many replicas have it, so a failover cannot lose it. If WAIT falls
// short or the connection breaks (a failover under way), the script runs
// again — every script given here may run twice: a second run finds its
// work done and changes nothing — until it is acknowledged or durableFor
// passes.
func (s *Store) eval(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmd, _ := s.evalRetried(ctx, script, keys, args...)
	return cmd
}

// evalRetried is eval, and says whether the script ran more than once:
// then a reply of "nothing to do" may mean the first run did it.
func (s *Store) evalRetried(ctx context.Context, script *redis.Script, keys []string, args ...any) (*redis.Cmd, bool) {
	if s.waitReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...), false
	}
	deadline := time.Now().Add(durableFor)
	backoff := 20 * time.Millisecond
	for try := 0; ; try++ {
		cmd, acked, err := s.evalAndWait(ctx, script, keys, args...)
		retried := try > 0
		switch {
		case err == nil && acked >= s.waitReplicas:
			return cmd, retried
		case err != nil && !retryable(err):
			return cmd, retried
		case ctx.Err() != nil:
			return errCmd(ctx, ctx.Err()), retried
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("%w (%d of %d)", ErrNotReplicated, acked, s.waitReplicas)
			}
			return errCmd(ctx, err), retried
		}
		s.logger.Debug("Writing again: not yet acknowledged by a replica", "acked", acked, "error", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return errCmd(ctx, ctx.Err()), true
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

func errCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// evalAndWait runs script then WAIT on one connection to keys[0]'s master
// and returns the script's reply and how many replicas acknowledged it.
func (s *Store) evalAndWait(ctx context.Context, script *redis.Script, keys []string, args ...any) (*redis.Cmd, int, error) {
	node, err := s.master(ctx, keys[0])
	if err != nil {
		return errCmd(ctx, err), 0, err
	}
	var cmd *redis.Cmd
	for range 2 {
		pipe := node.Pipeline()
		cmd = script.EvalSha(ctx, pipe, keys, args...)
		wait := pipe.Do(ctx, "WAIT", s.waitReplicas, replicaWait.Milliseconds())
		_, _ = pipe.Exec(ctx)
		if cmd.Err() != nil && strings.HasPrefix(cmd.Err().Error(), "NOSCRIPT") {
			if err := script.Load(ctx, node).Err(); err != nil {
				return errCmd(ctx, err), 0, err
			}
			continue
		}
		if cmd.Err() != nil && !errors.Is(cmd.Err(), redis.Nil) {
			return cmd, 0, cmd.Err()
		}
		if wait.Err() != nil {
			return cmd, 0, wait.Err()
		}
		n, _ := wait.Int64()
		return cmd, int(n), nil
	}
	return cmd, 0, cmd.Err()
}

// master returns a client of the master serving key: the cluster node
// (so that the script and its WAIT share one connection), or the store's
// own client, which a pipeline keeps on one connection.
func (s *Store) master(ctx context.Context, key string) (redis.Cmdable, error) {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return s.rdb, nil
}

// retryable tells errors of a failover or a restart (the connection
// broke, the node became a replica or moved the slot) from a script's
// own error, which another try would repeat.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"READONLY", "MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "NOREPLICAS"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return false // any other reply of the server: the script's own
	}
	return true // network errors, EOF, timeouts
}

// DetectReplicas returns the fewest replicas any master has (0 on a lone
// server): what Options.WaitReplicas can safely be.
func DetectReplicas(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	count := func(c redis.Cmdable) (int, error) {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return 0, err
		}
		n := 0
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
				fmt.Sscan(v, &n)
			}
		}
		return n, nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		least := -1
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			n, err := count(c)
			mu.Lock()
			defer mu.Unlock()
			if least < 0 || n < least {
				least = n
			}
			return err
		})
		return max(least, 0), err
	}
	return count(rdb)
}
