// Package redistest gives tests a real Redis: the server named by
// BROADSHEET_TEST_REDIS_URL, or a throwaway redis-server started from PATH.
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points tests at a running Redis.
const EnvURL = "BROADSHEET_TEST_REDIS_URL"

// Client returns a client on a real Redis and a key prefix no other test
// uses. With BROADSHEET_TEST_REDIS_URL unset it starts redis-server on a free
// port, stopped when the test ends. Without one installed the test is
// skipped, unless CI is set: then it fails, because CI must run these tests.
func Client(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	prefix := fmt.Sprintf("test:%s:%d:", strings.ReplaceAll(tb.Name(), "/", "."), time.Now().UnixNano())
	if rdb, ok := modeClient(tb); ok {
		return rdb, prefix
	}
	url := os.Getenv(EnvURL)
	if url == "" {
		url = "redis://" + Start(tb)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("redistest: %s: %v", EnvURL, err)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: Redis at %s does not answer: %v", url, err)
	}
	return rdb, prefix
}

// Start starts a throwaway redis-server on a free loopback port and returns
// its address; it is stopped when the test ends.
func Start(tb testing.TB) string {
	tb.Helper()
	return launch(tb, "--appendonly", "no").Addr
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is a redis-server this test started.
type Server struct {
	Addr string
	args []string
	cmd  *exec.Cmd
}

// StartPersistent starts a redis-server that writes every change to its
// append-only file (appendfsync always), so Restart keeps its data; it is
// stopped when the test ends.
func StartPersistent(tb testing.TB) *Server {
	tb.Helper()
	return launch(tb, "--appendonly", "yes", "--appendfsync", "always")
}

// launch starts redis-server from PATH on a free port with extra
// arguments, or skips the test (fails it under CI) when none is installed.
func launch(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	bin := lookServer(tb)
	port := strconv.Itoa(freePort(tb))
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", port),
		args: append([]string{bin, "--port", port, "--bind", "127.0.0.1", "--save", "",
			"--dir", tb.TempDir(), "--loglevel", "warning"}, extra...)}
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	return s
}

// lookServer returns the path of redis-server, or skips the test (fails it
// under CI) when none is installed.
func lookServer(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("redistest: CI is set but redis-server is not installed and %s is unset", EnvURL)
		}
		tb.Skipf("redistest: skipped: redis-server is not installed (apt-get install redis-server) and %s is unset", EnvURL)
	}
	return bin
}

func (s *Server) start() error {
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.SysProcAttr = procAttr()
	var out lockedBuffer // shown only if the server does not come up
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server did not listen on %s: %v\n%s", s.Addr, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is the server's output: exec copies into it from its own
// goroutine while start may read it to explain a failure.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart stops the server (it writes its data on the way out), waits
// down, then starts it again on the same address and data. It may be
// called from any goroutine.
func (s *Server) Restart(down time.Duration) error {
	s.stop()
	time.Sleep(down)
	return s.start()
}
