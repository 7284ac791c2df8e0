package web

import (
	"log/slog"
	"sync"
	"time"
)

// failureLog logs failed admin authentications at most once a window,
// with how many there were and from how many clients, so a guessing run is
// one line a minute, not one per guess.
type failureLog struct {
	logger *slog.Logger
	window time.Duration

	mu      sync.Mutex
	count   int
	clients map[string]int
	timer   *time.Timer
}

func newFailureLog(logger *slog.Logger, window time.Duration) *failureLog {
	return &failureLog{logger: logger, window: window, clients: map[string]int{}}
}

// add counts one failure from client. The first of a window is logged at
// once; the rest when the window ends.
func (f *failureLog) add(client string, throttled bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer == nil {
		f.logger.Warn("Admin authentication failed", slog.String("client", client), slog.Bool("throttled", throttled))
		f.timer = time.AfterFunc(f.window, f.flush)
		return
	}
	f.count++
	if len(f.clients) < 100 {
		f.clients[client]++
	} else if _, ok := f.clients[client]; ok {
		f.clients[client]++
	}
}

// flush logs the failures counted since the window opened, if any, and
// closes it.
func (f *failureLog) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	if f.count == 0 {
		return
	}
	top, most := "", 0
	for c, n := range f.clients {
		if n > most {
			top, most = c, n
		}
	}
	f.logger.Warn("Admin authentications failed", slog.Int("count", f.count), slog.Duration("within", f.window),
		slog.Int("clients", len(f.clients)), slog.String("top_client", top), slog.Int("top_client_count", most))
	f.count = 0
	clear(f.clients)
}
