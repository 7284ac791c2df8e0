package smtptest

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Faults makes the server misbehave the way real ones do. Every fault is
// deterministic: it hits the same transactions in every run, whatever the
// timing, so a test can predict exactly which messages fail. The counts
// behind the faults start from zero at each [Server.SetFaults] call and are
// shared by all connections. A zero or negative field injects nothing.
type Faults struct {
	// TempFailEvery answers every Nth end of DATA with
	// "451 4.3.0" instead of 250; the message is not recorded.
	TempFailEvery int
	// DropEvery closes the TCP connection abruptly (RST, no reply) on every
	// Nth MAIL FROM, the start of a transaction; the client sees a network
	// error, never an SMTP reply.
	DropEvery int
	// DataDelay is how long the server sleeps before answering the end of
	// DATA, whatever the answer (a slow server). It is cut short, with a
	// 421, when the test ends.
	DataDelay time.Duration
	// PolicyBlockAfter answers every RCPT TO with "554 5.7.1" once this many
	// messages have been accepted (a sender blocked by policy).
	PolicyBlockAfter int
}

// faultState is one SetFaults call: the faults and their own counters.
type faultState struct {
	f        Faults
	mails    atomic.Int64 // MAIL FROM commands seen
	dataEnds atomic.Int64 // ends of DATA seen
	accepted atomic.Int64 // messages answered 250
}

// drop counts a MAIL FROM and says whether this one drops the connection.
func (fs *faultState) drop() bool {
	n := fs.mails.Add(1)
	return fs.f.DropEvery > 0 && n%int64(fs.f.DropEvery) == 0
}

// tempFail counts an end of DATA and says whether this one is answered 451.
func (fs *faultState) tempFail() bool {
	n := fs.dataEnds.Add(1)
	return fs.f.TempFailEvery > 0 && n%int64(fs.f.TempFailEvery) == 0
}

// policyBlocked says whether RCPT TO is blocked now.
func (fs *faultState) policyBlocked() bool {
	return fs.f.PolicyBlockAfter > 0 && fs.accepted.Load() >= int64(fs.f.PolicyBlockAfter)
}

var (
	errTempFail = &smtp.SMTPError{
		Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Temporary failure, try again later (smtptest TempFailEvery)",
	}
	errPolicyBlock = &smtp.SMTPError{
		Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender blocked by policy (smtptest PolicyBlockAfter)",
	}
	// errDropped is never seen by a client: the connection is closed first.
	errDropped = &smtp.SMTPError{
		Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Connection dropped (smtptest DropEvery)",
	}
	errShuttingDown = &smtp.SMTPError{
		Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Server shutting down",
	}
)

// SetFaults replaces the faults in effect (Faults{}: none) and restarts
// their counts; transactions already under way finish under the old ones.
// It is safe to call while clients are connected.
func (s *Server) SetFaults(f Faults) {
	s.faults.Store(&faultState{f: f})
}

// Received says how many messages were accepted (250) for a recipient;
// "<A@Example.com>" and "a@example.com" are the same recipient.
func (s *Server) Received(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[normalize(rcpt)]
}

// Recipients returns, for every recipient (normalised: no angle brackets,
// lower case), how many messages were accepted for it.
func (s *Server) Recipients() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.received))
	for k, v := range s.received {
		m[k] = v
	}
	return m
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int { return int(s.connections.Load()) }

// Transactions is the number of transactions that reached the end of DATA
// so far, whatever the answer (250, 451 …); transactions cut off earlier (a
// dropped connection, every recipient refused) are not counted.
func (s *Server) Transactions() int { return int(s.transactions.Load()) }

// record keeps an accepted message and wakes WaitFor.
func (s *Server) record(m Message) {
	s.mu.Lock()
	s.messages = append(s.messages, m)
	for _, to := range m.To {
		s.received[normalize(to)]++
	}
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

// dropConnection closes the client's TCP connection without a reply. With
// SO_LINGER 0 the close sends a RST, as a crashed server or a middlebox
// would, so the client fails on its next read or write.
func (x *session) dropConnection() {
	nc := x.conn.Conn()
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// normalize makes "<A@Example.com>" and "a@example.com" one key, as
// digest.NormalizeEmail does for subscribers.
func normalize(addr string) string {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	return strings.ToLower(strings.TrimSpace(addr))
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Delivered checks that each of the n addresses addr(0)…addr(n-1) got at
// least one message, failing the test for each that got none, and returns
// how many messages beyond one each went out (the duplicates).
func (s *Server) Delivered(tb testing.TB, n int, addr func(i int) string) (duplicates int) {
	tb.Helper()
	for i := range n {
		switch got := s.Received(addr(i)); {
		case got == 0:
			tb.Errorf("%s got no message: lost", addr(i))
		case got > 1:
			duplicates += got - 1
		}
	}
	return duplicates
}
