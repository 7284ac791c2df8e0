package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Cluster is a Redis Cluster of three masters (no replicas) on loopback,
// started by this test process: each redis-server dies with it (Pdeathsig)
// even when the test binary is killed.
type Cluster struct {
	Addrs []string // host:port of each master
	procs []*exec.Cmd
}

// URL is the cluster's BROADSHEET_REDIS_URL: the first master, the others
// as addr= parameters.
func (c *Cluster) URL() string {
	q := make([]string, 0, len(c.Addrs)-1)
	for _, a := range c.Addrs[1:] {
		q = append(q, "addr="+a)
	}
	return "redis://" + c.Addrs[0] + "?" + strings.Join(q, "&")
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// StartCluster starts a three-master Redis Cluster on free loopback ports,
// creates it with redis-cli --cluster create and waits for
// cluster_state:ok; it is stopped when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := startCluster(tb.TempDir())
	if err != nil {
		requireBinaries(tb)
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// requireBinaries skips the test (fails it under CI) when redis-server or
// redis-cli is missing.
func requireBinaries(tb testing.TB) {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("redistest: CI is set but %s is not installed", bin)
			}
			tb.Skipf("redistest: skipped: %s is not installed (apt-get install redis-server)", bin)
		}
	}
}

func startCluster(dir string) (*Cluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, fmt.Errorf("redistest: redis-cli: %w", err)
	}
	c := &Cluster{}
	for i := range 3 {
		port, err := clusterPort()
		if err != nil {
			c.Stop()
			return nil, err
		}
		nodeDir := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			c.Stop()
			return nil, err
		}
		cmd, err := startDaemon(nodeDir, "127.0.0.1:"+strconv.Itoa(port), "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(nodeDir, "nodes.conf"),
			"--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no", "--dir", nodeDir, "--loglevel", "warning")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, cmd)
		c.Addrs = append(c.Addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(15 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitOK waits until every node says cluster_state:ok and knows all
// three masters.
func (c *Cluster) waitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ctx := context.Background()
	for _, a := range c.Addrs {
		cl := redis.NewClient(&redis.Options{Addr: a})
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				return fmt.Errorf("redistest: cluster node %s not ok within %v: %v %s", a, timeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return nil
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for _, p := range c.procs {
		stopDaemon(p)
	}
	c.procs = nil
}

// clusterPort finds a free port whose cluster bus port (+10000) is free
// too.
func clusterPort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("redistest: find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			bus.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("redistest: no free port pair for a cluster node")
}

// startDaemon starts redis-server with args, killed when this process dies,
// and waits until addr accepts connections.
func startDaemon(dir, addr string, args ...string) (*exec.Cmd, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redistest: redis-server: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return cmd, nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("redistest: redis-server did not listen on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stopDaemon(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}
