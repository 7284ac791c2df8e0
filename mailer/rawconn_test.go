package mailer

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// scriptedServer is a bare SMTP server that does not offer PIPELINING: it
// refuses RCPT for addresses starting with "no", and records the DATA it
// accepts.
func scriptedServer(t *testing.T) (addr string, got chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan string, 10)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
		say("220 scripted ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				say("250-scripted")
				say("250 8BITMIME") // no PIPELINING
			case strings.HasPrefix(cmd, "MAIL FROM:<"):
				say("250 2.1.0 ok")
			case strings.HasPrefix(cmd, "RCPT TO:<NO"):
				say("550 5.1.1 no such user")
			case strings.HasPrefix(cmd, "RCPT TO:<"):
				say("250 2.1.5 ok")
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
				got <- b.String()
				say("250 2.0.0 queued")
			case cmd == "RSET":
				say("250 2.0.0 reset")
			case cmd == "QUIT":
				say("221 bye")
				return
			default:
				say("500 5.5.2 what")
			}
		}
	}()
	return l.Addr().String(), got
}

// TestConnSendWithoutPipelining: a server without PIPELINING gets one
// command at a time; a refused recipient leaves the connection usable.
func TestConnSendWithoutPipelining(t *testing.T) {
	addr, got := scriptedServer(t)
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
	if !errors.As(err, &se) || se.Code != 550 || se.Enhanced != "5.1.1" || se.Command != "RCPT TO" || se.Temporary {
		t.Fatalf("a refused recipient: %v", err)
	}
	if conn.Broken() {
		t.Fatal("a refused recipient broke the connection")
	}
	msg := "Subject: x\r\n\r\n.a line starting with a dot\r\nend\r\n"
	if err := conn.Send(ctx, "news@example.com", "reader@example.com", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if data := <-got; data != "Subject: x\r\n\r\n..a line starting with a dot\r\nend\r\n" {
		t.Errorf("DATA as received (dot-stuffed): %q", data)
	}
}
