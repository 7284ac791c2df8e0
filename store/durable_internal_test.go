package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

// replyError is an error reply of the server, as go-redis gives it.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestRetryable: a failover's or restart's replies and a broken
// connection are worth another try; a script's own error reply, and no
// error, are not.
func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{replyError("READONLY You can't write against a read only replica."), true},
		{replyError("MOVED 3999 127.0.0.1:6381"), true},
		{replyError("ASK 3999 127.0.0.1:6381"), true},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{replyError("CLUSTERDOWN The cluster is down"), true},
		{replyError("LOADING Redis is loading the dataset in memory"), true},
		{replyError("MASTERDOWN Link with MASTER is down"), true},
		{replyError("NOREPLICAS Not enough good replicas to write."), true},
		{replyError("ERR user_script:3: attempt to compare nil with number"), false},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{fmt.Errorf("wrapped: %w", replyError("ERR bad")), false},
		{io.EOF, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{context.DeadlineExceeded, true},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
