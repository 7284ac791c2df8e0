package mailer

import (
	"context"
	"net"
	"sync"
	"time"
)

// deadlineConn is a connection whose every read and write must progress
// within its timeout — set for each step of the conversation — and which
// a bound context can cut short. go-mail's SMTP
// client sets one deadline per connection or per message; this bounds each
// step of the conversation instead, however long the message.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu    sync.Mutex
	ended error // the error of the bound context that ended; then every I/O fails
}

func newDeadlineConn(conn net.Conn, timeout time.Duration) *deadlineConn {
	return &deadlineConn{Conn: conn, timeout: timeout}
}

// setTimeout sets the timeout of the reads and writes to come.
func (c *deadlineConn) setTimeout(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeout = d
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.extend(c.Conn.SetReadDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.extend(c.Conn.SetWriteDeadline); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *deadlineConn) extend(set func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended != nil {
		return c.ended
	}
	return set(time.Now().Add(c.timeout))
}

// bind makes the connection fail when ctx ends, interrupting a read or
// write in progress, until unbind is called.
func (c *deadlineConn) bind(ctx context.Context) (unbind func() bool) {
	return context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.ended = ctx.Err()
		// A deadline in the past wakes a blocked Read or Write at once.
		_ = c.Conn.SetDeadline(time.Unix(1, 0))
	})
}
