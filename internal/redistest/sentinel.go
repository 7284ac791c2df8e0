package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of a Sentinel group monitor.
const MasterName = "mymaster"

// A Sentinel group is a master, one replica and three sentinels on
// loopback, started by this test process; every process dies with it
// (Pdeathsig).
type Sentinel struct {
	Master, Replica string   // host:port of the first master and its replica
	Sentinels       []string // host:port of each sentinel
	daemons         []*daemon
}

type daemon struct {
	name string
	stop func()
}

// URL is the group's BROADSHEET_REDIS_URL.
func (s *Sentinel) URL() string {
	q := []string{"master_name=" + MasterName}
	for _, a := range s.Sentinels[1:] {
		q = append(q, "addr="+a)
	}
	return "redis://" + s.Sentinels[0] + "?" + strings.Join(q, "&")
}

// Client returns a failover client on the group, closed when the test
// ends. It follows the master through a failover.
func (s *Sentinel) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, SentinelAddrs: s.Sentinels,
		MaxRetries: 10, MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 500 * time.Millisecond})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// StartSentinel starts a master, a replica and three sentinels watching
// them, and waits until the sentinels know the replica and one another.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	requireBinaries(tb)
	s, err := startSentinel(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func startSentinel(dir string) (*Sentinel, error) {
	s := &Sentinel{}
	start := func(name string, args ...string) (string, error) {
		port, err := clusterPort()
		if err != nil {
			return "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
		var cmd []string
		if strings.HasPrefix(name, "sentinel") {
			conf := filepath.Join(d, "sentinel.conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s 2\n"+
				"sentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
				port, d, MasterName, strings.Replace(s.Master, ":", " ", 1), MasterName, MasterName)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return "", err
			}
			cmd = []string{conf, "--sentinel", "--loglevel", "warning"}
		} else {
			cmd = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
				"--dir", d, "--loglevel", "warning"}, args...)
		}
		p, err := startDaemon(d, addr, cmd...)
		if err != nil {
			return "", err
		}
		s.daemons = append(s.daemons, &daemon{name: name, stop: func() { stopDaemon(p) }})
		return addr, nil
	}
	var err error
	if s.Master, err = start("master"); err != nil {
		s.Stop()
		return nil, err
	}
	host, port, _ := strings.Cut(s.Master, ":")
	if s.Replica, err = start("replica", "--replicaof", host, port); err != nil {
		s.Stop()
		return nil, err
	}
	for i := range 3 {
		a, err := start("sentinel" + strconv.Itoa(i))
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, a)
	}
	if err := s.waitReady(20 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady waits until the replica is in sync and every sentinel knows
// the replica and the two other sentinels.
func (s *Sentinel) waitReady(timeout time.Duration) error {
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	master := redis.NewClient(&redis.Options{Addr: s.Master})
	defer master.Close()
	for {
		info, _ := master.Info(ctx, "replication").Result()
		if strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: the replica did not sync within %v: %s", timeout, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, a := range s.Sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: a})
		for {
			reps, err1 := sc.Replicas(ctx, MasterName).Result()
			sens, err2 := sc.Sentinels(ctx, MasterName).Result()
			if err1 == nil && err2 == nil && len(reps) == 1 && len(sens) == 2 {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				return fmt.Errorf("redistest: sentinel %s did not see the group within %v (%v %v)", a, timeout, err1, err2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		sc.Close()
	}
	return nil
}

// MasterAddr asks a sentinel where the master is now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
	if err != nil {
		return "", err
	}
	return hp[0] + ":" + hp[1], nil
}

// Failover makes the sentinels promote the replica (SENTINEL FAILOVER,
// which does not wait for the replica to catch up) and waits until they
// name the new master.
func (s *Sentinel) Failover(ctx context.Context, timeout time.Duration) (string, error) {
	old, err := s.MasterAddr(ctx)
	if err != nil {
		return "", err
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer sc.Close()
	if err := sc.Failover(ctx, MasterName).Err(); err != nil {
		return "", fmt.Errorf("redistest: sentinel failover: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		now, err := s.MasterAddr(ctx)
		if err == nil && now != old {
			return now, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("redistest: the master was still %s %v after the failover", old, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills every process of the group.
func (s *Sentinel) Stop() {
	for _, d := range s.daemons {
		d.stop()
	}
	s.daemons = nil
}
