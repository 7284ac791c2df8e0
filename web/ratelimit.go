package web

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter limits requests per client IP with a token bucket each
// (golang.org/x/time/rate). Its memory is bounded: past maxClients IPs it
// starts afresh, which at worst lets a client in early.
type ipLimiter struct {
	mu         sync.Mutex
	every      rate.Limit
	burst      int
	clients    map[string]*rate.Limiter
	maxClients int
}

func newIPLimiter(perMinute int) *ipLimiter {
	return &ipLimiter{
		every:      rate.Limit(float64(perMinute) / 60),
		burst:      perMinute,
		clients:    make(map[string]*rate.Limiter),
		maxClients: 100_000,
	}
}

// allow takes a token for ip, or says how long until one is free.
func (l *ipLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.clients[ip]
	if !ok {
		if len(l.clients) >= l.maxClients {
			clear(l.clients)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.clients[ip] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientIP is the request's client address: the connection's peer, or,
// behind a trusted proxy, the last address the proxy appended to
// X-Forwarded-For.
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
