package mailer

import (
	"context"
	"errors"
	"testing"
)

// scriptedServer is a bare SMTP server that does not offer PIPELINING (see
// serveScript): it refuses RCPT for addresses starting with "no", and
// records the DATA it accepts.
func scriptedServer(t *testing.T) (addr string, got chan string) {
	t.Helper()
	got = make(chan string, 10)
	return serveScript(t, script{greeting: "220 scripted ESMTP", ehlo: []string{"8BITMIME"}, messagesGot: got}).addr, got
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
