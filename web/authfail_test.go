package web

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Failures are logged once when the window opens, then once with the
// count when it ends — not once per failure.
func TestFailureLogOncePerWindowWithCount(t *testing.T) {
	var out lockedBuffer
	f := newFailureLog(slog.New(slog.NewTextHandler(&out, nil)), 100*time.Millisecond)
	for i := range 3000 {
		f.add([]string{"192.0.2.1", "2001:db8::/64"}[i%2], i > 10)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("%d lines during the window, want 1:\n%s", n, out.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "count=2999") || !strings.Contains(lines[1], "clients=2") {
		t.Fatalf("after the window: %q, want a second line with count=2999 clients=2", lines)
	}
	f.add("192.0.2.1", false) // a new window opens with a line of its own
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}
}
