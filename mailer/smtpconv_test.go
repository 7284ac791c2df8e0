package mailer

import (
	"bufio"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// script is how a bare test server answers: its greeting, its reply to
// EHLO (lines without the code), and whether it answers DATA with 354 even
// when it refused the only recipient (as some pipelining servers do).
type script struct {
	greeting    string
	ehlo        []string // nil: "250-" lines of these; ehloReply replaces them
	ehloReply   string   // e.g. "550 5.7.1 go away"
	dataAnyway  bool
	messagesGot chan string
}

// scriptServer is a bare SMTP server answering one connection.
type scriptServer struct {
	addr string
	done chan struct{} // closed when the connection has ended
	cmds []string      // the commands it read, upper case; read after done
}

// quitSaid reports whether the client said QUIT before hanging up.
func (s *scriptServer) quitSaid(t *testing.T) bool {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not hang up")
	}
	return slices.Contains(s.cmds, "QUIT")
}

// serveScript accepts one connection and answers it as sc says. RCPT TO an
// address starting with "no" is refused with 550 5.1.1.
func serveScript(t *testing.T, sc script) *scriptServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	srv := &scriptServer{addr: l.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(srv.done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
		say(sc.greeting)
		rcptOK := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			srv.cmds = append(srv.cmds, cmd)
			switch {
			case strings.HasPrefix(cmd, "EHLO") && sc.ehloReply != "":
				say(sc.ehloReply)
			case strings.HasPrefix(cmd, "EHLO"):
				lines := append([]string{"scripted"}, sc.ehlo...)
				for i, l := range lines {
					sep := "-"
					if i == len(lines)-1 {
						sep = " "
					}
					say("250" + sep + l)
				}
			case strings.HasPrefix(cmd, "MAIL FROM:<"):
				say("250 2.1.0 ok")
			case strings.HasPrefix(cmd, "RCPT TO:<NO"):
				rcptOK = false
				say("550 5.1.1 no such user")
			case strings.HasPrefix(cmd, "RCPT TO:<"):
				rcptOK = true
				say("250 2.1.5 ok")
			case cmd == "DATA" && !rcptOK && !sc.dataAnyway:
				say("554 5.5.1 no valid recipients")
			case cmd == "DATA":
				say("354 go on")
				var b strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					b.WriteString(l)
				}
				if !rcptOK {
					say("554 5.5.1 no valid recipients")
					continue
				}
				if sc.messagesGot != nil {
					sc.messagesGot <- b.String()
				}
				say("250 2.0.0 queued")
			case cmd == "RSET":
				rcptOK = false
				say("250 2.0.0 reset")
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("500 5.5.2 what")
			}
		}
	}()
	return srv
}

// TestSMTPOpenRefusals: each step of opening a connection that fails says
// which step, names the server, and is temporary exactly when trying again
// later may help.
func TestSMTPOpenRefusals(t *testing.T) {
	tests := []struct {
		name    string
		scheme  string // smtp or smtps
		query   string
		sc      script
		command string
		what    string // the error's text after "mailer: "
		code    int
		temp    bool
		// quit: whether QUIT is said before hanging up ("yes" when the
		// server still listens, "no" after a failed TLS handshake, ""
		// unchecked: after a refused greeting there is no client to say it,
		// though RFC 5321 §3.1 would have one).
		quit string
	}{
		{"greeting refused", "smtp", "tls=none", script{greeting: "554 5.3.2 no service here"},
			"CONNECT", "SMTP server ADDR did not accept the connection: 554 5.3.2 no service here", 554, false, ""},
		{"greeting busy", "smtp", "tls=none", script{greeting: "421 4.3.2 too busy"},
			"CONNECT", "SMTP server ADDR did not accept the connection: 421 4.3.2 too busy", 421, true, ""},
		{"EHLO refused", "smtp", "tls=none", script{greeting: "220 scripted", ehloReply: "550 5.7.1 not you"},
			"EHLO", "SMTP server ADDR refused EHLO: 550 5.7.1 not you", 550, false, "yes"},
		{"implicit TLS to a plain server", "smtps", "", script{greeting: "220 scripted"},
			"TLS", "TLS handshake with SMTP server ADDR failed: ", 0, false, "no"},
		{"user but no AUTH", "smtp", "tls=none", script{greeting: "220 scripted", ehlo: []string{"8BITMIME"}},
			"AUTH", "SMTP server ADDR does not offer authentication (AUTH), but the URL has a user", 0, false, "yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serveScript(t, tt.sc)
			addr := srv.addr
			s, err := NewSMTP(tt.scheme+"://user:secret@"+addr+"?"+tt.query, SMTPOptions{})
			if tt.command != "AUTH" {
				s, err = NewSMTP(tt.scheme+"://"+addr+"?"+tt.query, SMTPOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			conn, err := s.Open(context.Background())
			if err == nil {
				conn.Close()
				t.Fatal("Open succeeded")
			}
			var se *SMTPError
			if !errors.As(err, &se) {
				t.Fatalf("Open = %v, want an *SMTPError", err)
			}
			if se.Command != tt.command || se.Code != tt.code || se.Temporary != tt.temp {
				t.Errorf("Open = %s %d temporary %v, want %s %d temporary %v", se.Command, se.Code, se.Temporary, tt.command, tt.code, tt.temp)
			}
			if want := "mailer: " + strings.ReplaceAll(tt.what, "ADDR", addr); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Open = %q, want it to start %q", err, want)
			}
			if got := srv.quitSaid(t); tt.quit != "" && got != (tt.quit == "yes") {
				t.Errorf("QUIT said: %v, want %s", got, tt.quit)
			}
		})
	}
}

// TestPipelinedRefusedRecipientThenData: a pipelining server that refuses
// the recipient but still answers DATA with 354 gets an empty message ended
// at once (it waits for one), the refusal is the recipient's, and the
// connection carries the next message.
func TestPipelinedRefusedRecipientThenData(t *testing.T) {
	got := make(chan string, 10)
	addr := serveScript(t, script{greeting: "220 scripted", ehlo: []string{"PIPELINING"}, dataAnyway: true, messagesGot: got}).addr
	s, err := NewSMTP("smtp://"+addr+"?tls=none", SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := s.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Send(ctx, "news@example.com", "nobody@example.com", []byte("Subject: x\r\n\r\nhi\r\n"))
	var se *SMTPError
	if !errors.As(err, &se) || se.Command != "RCPT TO" || se.Code != 550 || se.Enhanced != "5.1.1" || se.Temporary {
		t.Fatalf("a refused recipient: %v, want RCPT TO's 550 5.1.1", err)
	}
	if conn.Broken() {
		t.Fatal("a refused recipient broke the connection")
	}
	if err := conn.Send(ctx, "news@example.com", "reader@example.com", []byte("Subject: y\r\n\r\nhello\r\n")); err != nil {
		t.Fatalf("the next message: %v", err)
	}
	if data := <-got; data != "Subject: y\r\n\r\nhello\r\n" {
		t.Errorf("the server got %q, want only the second message", data)
	}
}
