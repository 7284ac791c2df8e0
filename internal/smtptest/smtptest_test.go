package smtptest_test

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/broadsheet-news/broadsheet/internal/smtptest"
)

// dial opens a client connection that has said EHLO.
func dial(t *testing.T, s *smtptest.Server) *mailsmtp.Client {
	t.Helper()
	c, err := mailsmtp.Dial(s.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c
}

// send runs one transaction; the error says which step failed.
func send(c *mailsmtp.Client, to ...string) error {
	if err := c.Mail("<news@broadsheet.test>"); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt("<" + rcpt + ">"); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	msg := "From: news@broadsheet.test\r\nTo: " + strings.Join(to, ", ") +
		"\r\nSubject: test\r\n\r\nHello.\r\n"
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("DATA write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return nil
}

// reply returns the SMTP reply in err, failing the test when there is none.
func reply(t *testing.T, err error) *textproto.Error {
	t.Helper()
	var te *textproto.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not an SMTP reply", err, err)
	}
	return te
}

func TestAcceptsAndCounts(t *testing.T) {
	s := smtptest.Start(t)
	c1, c2 := dial(t, s), dial(t, s)
	if err := send(c1, "a@example.com", "B@Example.com"); err != nil {
		t.Fatal(err)
	}
	if err := send(c2, "a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := send(c1, "c@example.com"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		rcpt string
		want int
	}{
		{"a@example.com", 2}, {"<a@example.com>", 2}, {"<A@EXAMPLE.COM>", 2},
		{"b@example.com", 1}, {" <b@example.com> ", 1}, {"c@example.com", 1}, {"nobody@example.com", 0},
	} {
		if got := s.Received(tc.rcpt); got != tc.want {
			t.Errorf("Received(%q) = %d, want %d", tc.rcpt, got, tc.want)
		}
	}
	want := map[string]int{"a@example.com": 2, "b@example.com": 1, "c@example.com": 1}
	got := s.Recipients()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Recipients() = %v, want %v", got, want)
	}
	got["a@example.com"] = 99 // a copy: the server's counts do not change
	if n := s.Received("a@example.com"); n != 2 {
		t.Errorf("Received after changing the Recipients map = %d, want 2", n)
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections() = %d, want 2", n)
	}
	if n := s.Transactions(); n != 3 {
		t.Errorf("Transactions() = %d, want 3", n)
	}
	msgs := s.WaitFor(t, 3, time.Second)
	if len(msgs) != 3 || msgs[0].From != "news@broadsheet.test" || len(msgs[0].To) != 2 {
		t.Errorf("Messages() = %+v", msgs)
	}
	if text := msgs[0].Text(t); text != "Hello.\r\n" {
		t.Errorf("Text() = %q", text)
	}
}

func TestRefuseRecipientsIsNotCounted(t *testing.T) {
	s := smtptest.Start(t)
	s.RefuseRecipients(func(to string) error {
		if to == "gone@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	})
	c := dial(t, s)
	err := send(c, "gone@example.com")
	if r := reply(t, err); r.Code != 550 || !strings.HasPrefix(r.Msg, "5.1.1 ") {
		t.Errorf("RCPT to a refused address: %d %q, want 550 5.1.1", r.Code, r.Msg)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "here@example.com"); err != nil {
		t.Fatal(err)
	}
	if s.Received("gone@example.com") != 0 || s.Received("here@example.com") != 1 || s.Transactions() != 1 {
		t.Errorf("Recipients() = %v, Transactions() = %d; want only here@example.com, 1", s.Recipients(), s.Transactions())
	}
}

func TestTempFailEvery(t *testing.T) {
	s := smtptest.Start(t)
	s.SetFaults(smtptest.Faults{TempFailEvery: 3})
	// Two connections in turn: the count is global, not per connection.
	clients := []*mailsmtp.Client{dial(t, s), dial(t, s)}
	var failed []int
	for i := 1; i <= 10; i++ {
		err := send(clients[i%2], fmt.Sprintf("r%d@example.com", i))
		if err == nil {
			continue
		}
		failed = append(failed, i)
		if r := reply(t, err); r.Code != 451 || !strings.HasPrefix(r.Msg, "4.3.0 ") || !strings.HasPrefix(err.Error(), "end of DATA") {
			t.Errorf("transaction %d: %v (%d %q), want 451 4.3.0 at the end of DATA", i, err, r.Code, r.Msg)
		}
	}
	if fmt.Sprint(failed) != "[3 6 9]" {
		t.Errorf("transactions answered 451: %v, want [3 6 9]", failed)
	}
	if n := s.Transactions(); n != 10 {
		t.Errorf("Transactions() = %d, want 10 (451s included)", n)
	}
	if n := len(s.Messages()); n != 7 {
		t.Errorf("%d messages recorded, want 7", n)
	}
	if s.Received("r3@example.com") != 0 || s.Received("r4@example.com") != 1 {
		t.Errorf("Recipients() = %v: r3 must be missing, r4 there", s.Recipients())
	}

	// The connection stays usable after a 451, and SetFaults restarts the count.
	s.SetFaults(smtptest.Faults{TempFailEvery: 2})
	if err := send(clients[0], "again@example.com"); err != nil {
		t.Errorf("first transaction after SetFaults: %v", err)
	}
	if err := send(clients[0], "again@example.com"); err == nil || reply(t, err).Code != 451 {
		t.Errorf("second transaction after SetFaults: %v, want 451", err)
	}
	s.SetFaults(smtptest.Faults{})
	if err := send(clients[0], "again@example.com"); err != nil {
		t.Errorf("with no faults: %v", err)
	}
	if n := s.Received("again@example.com"); n != 2 {
		t.Errorf("Received(again) = %d, want 2", n)
	}
}

func TestTempFailEveryConcurrent(t *testing.T) {
	s := smtptest.Start(t)
	s.SetFaults(smtptest.Faults{TempFailEvery: 5})
	const conns, each = 8, 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		tempErr int
	)
	for g := range conns {
		c := dial(t, s)
		wg.Go(func() {
			for i := range each {
				err := send(c, fmt.Sprintf("g%d-%d@example.com", g, i))
				if err == nil {
					continue
				}
				var te *textproto.Error
				if !errors.As(err, &te) || te.Code != 451 {
					t.Errorf("connection %d, transaction %d: %v", g, i, err)
					return
				}
				mu.Lock()
				tempErr++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const total = conns * each
	if tempErr != total/5 || s.Transactions() != total || len(s.Recipients()) != total-total/5 {
		t.Errorf("451s %d, Transactions() %d, recipients %d; want %d, %d, %d",
			tempErr, s.Transactions(), len(s.Recipients()), total/5, total, total-total/5)
	}
	if n := s.Connections(); n != conns {
		t.Errorf("Connections() = %d, want %d", n, conns)
	}
}

func TestDropEvery(t *testing.T) {
	s := smtptest.Start(t)
	s.SetFaults(smtptest.Faults{DropEvery: 2})

	c := dial(t, s)
	if err := send(c, "one@example.com"); err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	err := send(c, "two@example.com")
	if err == nil || !strings.HasPrefix(err.Error(), "MAIL: ") {
		t.Fatalf("second transaction: %v, want a MAIL FROM error", err)
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		t.Fatalf("second transaction: got the SMTP reply %d %q, want a network error", te.Code, te.Msg)
	}
	if err := c.Noop(); err == nil {
		t.Error("NOOP on the dropped connection succeeded")
	}

	c = dial(t, s) // the count goes on across connections: 3rd MAIL passes, 4th drops
	if err := send(c, "three@example.com"); err != nil {
		t.Fatalf("third transaction: %v", err)
	}
	if err := send(c, "four@example.com"); err == nil {
		t.Fatal("fourth transaction succeeded, want a dropped connection")
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("Connections() = %d, want 2", n)
	}
	if n := s.Transactions(); n != 2 {
		t.Errorf("Transactions() = %d, want 2 (dropped ones never reach DATA)", n)
	}
	if got := fmt.Sprint(s.Recipients()); got != "map[one@example.com:1 three@example.com:1]" {
		t.Errorf("Recipients() = %s", got)
	}
}

func TestDataDelay(t *testing.T) {
	s := smtptest.Start(t)
	const delay = 300 * time.Millisecond
	s.SetFaults(smtptest.Faults{DataDelay: delay, TempFailEvery: 2})
	c := dial(t, s)
	for i, wantCode := range []int{250, 451} {
		start := time.Now()
		err := send(c, "slow@example.com")
		if took := time.Since(start); took < delay {
			t.Errorf("transaction %d answered after %v, want at least %v", i+1, took, delay)
		}
		code := 250
		if err != nil {
			code = reply(t, err).Code
		}
		if code != wantCode {
			t.Errorf("transaction %d: %v, want %d", i+1, err, wantCode)
		}
	}
	if n := s.Received("slow@example.com"); n != 1 {
		t.Errorf("Received() = %d, want 1", n)
	}
}

func TestDataDelayEndsWithTheTest(t *testing.T) {
	done := make(chan time.Duration, 1)
	t.Run("slow", func(t *testing.T) {
		s := smtptest.Start(t)
		s.SetFaults(smtptest.Faults{DataDelay: time.Hour})
		// Not dial: go-mail's Client.Close waits for the pending reply.
		c, err := mailsmtp.Dial(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		go func() {
			_ = send(c, "x@example.com")
			done <- time.Since(start)
			_ = c.Close()
		}()
		for s.Transactions() == 0 { // the end of DATA arrived: the server is sleeping
			time.Sleep(time.Millisecond)
		}
		// The test ends here; its cleanup stops the server.
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a transaction sleeping in DataDelay outlived the server")
	}
}

func TestPolicyBlockAfter(t *testing.T) {
	s := smtptest.Start(t)
	if err := send(dial(t, s), "before@example.com"); err != nil { // before SetFaults: not counted
		t.Fatal(err)
	}
	s.SetFaults(smtptest.Faults{PolicyBlockAfter: 3})
	c1, c2 := dial(t, s), dial(t, s)
	for i := 1; i <= 3; i++ {
		if err := send([]*mailsmtp.Client{c1, c2}[i%2], fmt.Sprintf("ok%d@example.com", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for _, c := range []*mailsmtp.Client{c1, c2, dial(t, s)} {
		err := send(c, "blocked@example.com")
		r := reply(t, err)
		if r.Code != 554 || !strings.HasPrefix(r.Msg, "5.7.1 ") || !strings.HasPrefix(err.Error(), "RCPT: ") {
			t.Errorf("after 3 messages: %v (%d %q), want RCPT answered 554 5.7.1", err, r.Code, r.Msg)
		}
		if err := c.Reset(); err != nil {
			t.Errorf("RSET after the block: %v", err)
		}
	}
	if n := s.Received("blocked@example.com"); n != 0 {
		t.Errorf("Received(blocked) = %d, want 0", n)
	}
	if n := s.Transactions(); n != 4 {
		t.Errorf("Transactions() = %d, want 4", n)
	}
	s.SetFaults(smtptest.Faults{}) // lifted
	if err := send(c1, "after@example.com"); err != nil {
		t.Errorf("after lifting the block: %v", err)
	}
}
