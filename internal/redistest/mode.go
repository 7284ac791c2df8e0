package redistest

import (
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EnvMode names the variable choosing what kind of Redis the store,
// engine and end-to-end tests run on: "" (one redis-server), "cluster"
// (a three-master Redis Cluster) or "sentinel" (a master, a replica and
// three sentinels). .ci/run runs those packages once more in each mode.
const EnvMode = "BROADSHEET_TEST_REDIS"

// Mode is the kind of Redis the tests run on (see EnvMode).
func Mode() string { return os.Getenv(EnvMode) }

// shared holds the one Cluster or Sentinel group a test process starts
// in cluster or sentinel mode: starting one per test would take seconds
// each. Tests keep apart by key prefix; the processes die with the test
// binary (Pdeathsig). It is the package's only state, and test-only.
var shared struct {
	once     sync.Once
	cluster  *Cluster
	sentinel *Sentinel
	err      error
}

func sharedGroup(tb testing.TB) (*Cluster, *Sentinel) {
	tb.Helper()
	requireBinaries(tb)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "redistest-")
		if err != nil {
			shared.err = err
			return
		}
		switch Mode() {
		case "cluster":
			shared.cluster, shared.err = startCluster(dir)
		case "sentinel":
			shared.sentinel, shared.err = startSentinel(dir)
		}
	})
	if shared.err != nil {
		tb.Fatalf("redistest: %s mode: %v", Mode(), shared.err)
	}
	return shared.cluster, shared.sentinel
}

// modeClient returns a client on the shared Cluster or Sentinel group in
// those modes, and false in plain mode.
func modeClient(tb testing.TB) (redis.UniversalClient, bool) {
	tb.Helper()
	switch Mode() {
	case "cluster":
		c, _ := sharedGroup(tb)
		return c.Client(tb), true
	case "sentinel":
		_, s := sharedGroup(tb)
		return s.Client(tb), true
	case "":
		return nil, false
	}
	tb.Fatalf("redistest: %s=%q: want cluster, sentinel or nothing", EnvMode, Mode())
	return nil, false
}

// URL returns the BROADSHEET_REDIS_URL of a Redis of the test's mode that
// no other test uses: a fresh redis-server in plain mode, a fresh Cluster
// or Sentinel group otherwise. Stopped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	switch Mode() {
	case "cluster":
		return StartCluster(tb).URL()
	case "sentinel":
		return StartSentinel(tb).URL()
	}
	return "redis://" + Start(tb)
}

// Replicas is how many replicas the store under test should wait for
// (store.Options.WaitReplicas): 1 in sentinel mode, else 0.
func Replicas() int {
	if Mode() == "sentinel" {
		return 1
	}
	return 0
}
