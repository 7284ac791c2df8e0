package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"
)

// testMessage composes a message to to.
func testMessage(t *testing.T, to string) *gomail.Msg {
	t.Helper()
	msg, err := testComposer(t).Compose(Message{To: to, Subject: "Café — ünïcode", Text: "Hello, reader", HTML: "<p>Hello, reader</p>"})
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	return msg
}

func newTestSMTP(t *testing.T, rawURL string, tlsConfig *tls.Config) *SMTP {
	t.Helper()
	s, err := NewSMTP(rawURL, SMTPOptions{TLSConfig: tlsConfig})
	if err != nil {
		t.Fatalf("NewSMTP(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// checkReceived checks that the server got exactly one message, msg, from
// news@example.com to reader@example.org.
func checkReceived(t *testing.T, ts *testServer, wantTLS bool) {
	t.Helper()
	mails := ts.mails()
	if len(mails) != 1 {
		t.Fatalf("server received %d messages, want 1", len(mails))
	}
	got := mails[0]
	if got.from != "news@example.com" || len(got.to) != 1 || got.to[0] != "reader@example.org" {
		t.Errorf("envelope %s → %v, want news@example.com → [reader@example.org]", got.from, got.to)
	}
	if got.tls != wantTLS {
		t.Errorf("received over TLS: %v, want %v", got.tls, wantTLS)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if !strings.HasSuffix(parsed.Header.Get("Message-ID"), "@example.com>") {
		t.Errorf("received Message-ID %q", parsed.Header.Get("Message-ID"))
	}
}

func TestSMTPPlain(t *testing.T) {
	ts := startTestServer(t, testServerOptions{})
	s := newTestSMTP(t, "smtp://"+ts.addr+"?tls=none", nil)
	if err := s.Deliver(context.Background(), testMessage(t, "reader@example.org")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	checkReceived(t, ts, false)
}

func TestSMTPAuth(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	users := map[string]string{"bob": "s3cret:/@pass"}
	tests := []struct {
		name, url  string
		tls        *tls.Config
		mechanisms []string
		wantErr    bool
	}{
		{"right password, STARTTLS", "smtp://bob:s3cret%3A%2F%40pass@HOST", clientTLS, nil, false},
		{"right password, plain text to 127.0.0.1", "smtp://bob:s3cret%3A%2F%40pass@HOST?tls=none", nil, nil, false},
		{"right password, LOGIN only", "smtp://bob:s3cret%3A%2F%40pass@HOST", clientTLS, []string{"LOGIN"}, false},
		{"wrong password", "smtp://bob:wrong-horse-battery@HOST", clientTLS, nil, true},
		{"wrong password, LOGIN only", "smtp://bob:wrong-horse-battery@HOST", clientTLS, []string{"LOGIN"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startTestServer(t, testServerOptions{tls: serverTLS, users: users, mechanisms: tt.mechanisms})
			s := newTestSMTP(t, strings.Replace(tt.url, "HOST", ts.addr, 1), tt.tls)
			err := s.Deliver(context.Background(), testMessage(t, "reader@example.org"))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				checkReceived(t, ts, tt.tls != nil)
				if got := ts.authenticated(); len(got) != 1 || got[0] != "bob" {
					t.Errorf("authenticated users %v, want [bob]", got)
				}
				return
			}
			if err == nil {
				t.Fatal("Deliver with a wrong password succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "mailer: SMTP authentication failed for user \"bob\"") || !strings.Contains(msg, "535") {
				t.Errorf("error %q: want it to say authentication failed for bob, with the 535", msg)
			}
			if strings.Contains(msg, "wrong-horse-battery") {
				t.Errorf("error %q holds the password", msg)
			}
			var se *SMTPError
			if !errors.As(err, &se) || se.Command != "AUTH" || se.Code != 535 || se.Temporary {
				t.Errorf("error %#v: want a permanent *SMTPError for AUTH, code 535", err)
			}
			if len(ts.mails()) != 0 {
				t.Error("the server received a message")
			}
		})
	}
}

func TestSMTPStartTLS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	ts := startTestServer(t, testServerOptions{tls: serverTLS})
	s := newTestSMTP(t, "smtp://"+ts.addr, clientTLS)
	if err := s.Deliver(context.Background(), testMessage(t, "reader@example.org")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	checkReceived(t, ts, true)
}

func TestSMTPStartTLSRequired(t *testing.T) {
	_, clientTLS := testCert(t)
	ts := startTestServer(t, testServerOptions{}) // no certificate: no STARTTLS
	s := newTestSMTP(t, "smtp://"+ts.addr, clientTLS)
	err := s.Deliver(context.Background(), testMessage(t, "reader@example.org"))
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Deliver = %v, want an error saying the server does not offer STARTTLS", err)
	}
	var se *SMTPError
	if !errors.As(err, &se) || se.Command != "STARTTLS" || se.Temporary {
		t.Errorf("error %#v: want a permanent *SMTPError for STARTTLS", err)
	}
	if len(ts.mails()) != 0 {
		t.Error("the server received a message in plain text")
	}
}

func TestSMTPStartTLSUntrusted(t *testing.T) {
	serverTLS, _ := testCert(t)
	_, otherClientTLS := testCert(t) // trusts another certificate
	ts := startTestServer(t, testServerOptions{tls: serverTLS})
	s := newTestSMTP(t, "smtp://"+ts.addr, otherClientTLS)
	err := s.Deliver(context.Background(), testMessage(t, "reader@example.org"))
	var se *SMTPError
	if !errors.As(err, &se) || se.Command != "STARTTLS" || se.Temporary {
		t.Fatalf("Deliver = %v, want a permanent *SMTPError for STARTTLS", err)
	}
	if len(ts.mails()) != 0 {
		t.Error("the server received a message")
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	ts := startTestServer(t, testServerOptions{tls: serverTLS, implicit: true, users: map[string]string{"bob": "secret"}})
	s := newTestSMTP(t, "smtps://bob:secret@"+ts.addr, clientTLS)
	if err := s.Deliver(context.Background(), testMessage(t, "reader@example.org")); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	checkReceived(t, ts, true)
	if got := ts.authenticated(); len(got) != 1 || got[0] != "bob" {
		t.Errorf("authenticated users %v, want [bob]", got)
	}
}

func TestSMTPUnreachable(t *testing.T) {
	// A port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	s := newTestSMTP(t, "smtp://"+addr+"?tls=none&timeout=2s", nil)
	err = s.Deliver(context.Background(), testMessage(t, "reader@example.org"))
	if err == nil || !strings.HasPrefix(err.Error(), "mailer: cannot connect to SMTP server "+addr+": ") {
		t.Fatalf("Deliver = %v, want mailer: cannot connect to SMTP server %s: …", err, addr)
	}
	var se *SMTPError
	if !errors.As(err, &se) || !se.Temporary || se.Code != 0 || se.Command != "CONNECT" {
		t.Errorf("error %#v: want a temporary *SMTPError for CONNECT without a code", err)
	}
}

func TestSMTPRecipientRefused(t *testing.T) {
	tests := []struct {
		name          string
		reply         *smtp.SMTPError
		wantCode      int
		wantEnhanced  string
		wantTemporary bool
	}{
		{"no such user", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}, 550, "5.1.1", false},
		{"try later", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}, 451, "4.3.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startTestServer(t, testServerOptions{rcpt: map[string]*smtp.SMTPError{"gone@example.org": tt.reply}})
			s := newTestSMTP(t, "smtp://"+ts.addr+"?tls=none", nil)
			err := s.Deliver(context.Background(), testMessage(t, "gone@example.org"))
			var se *SMTPError
			if !errors.As(err, &se) {
				t.Fatalf("Deliver = %v, want an *SMTPError", err)
			}
			if se.Code != tt.wantCode || se.Enhanced != tt.wantEnhanced || se.Temporary != tt.wantTemporary ||
				se.Command != "RCPT TO" || se.Message != tt.reply.Message {
				t.Errorf("SMTPError = %+v, want code %d, enhanced %s, temporary %v, RCPT TO, %q",
					*se, tt.wantCode, tt.wantEnhanced, tt.wantTemporary, tt.reply.Message)
			}
			want := fmt.Sprintf("mailer: SMTP server %s refused recipient <gone@example.org>: %d %s %s",
				ts.addr, tt.wantCode, tt.wantEnhanced, tt.reply.Message)
			if err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			if len(ts.mails()) != 0 {
				t.Error("the server received a message")
			}
		})
	}
}

// A context that ends cuts a delivery short, even while the server stalls.
func TestSMTPContextCanceled(t *testing.T) {
	release := make(chan struct{})
	ts := startTestServer(t, testServerOptions{data: func() { <-release }})
	t.Cleanup(func() { close(release) }) // before the server closes

	s := newTestSMTP(t, "smtp://"+ts.addr+"?tls=none&timeout=1m", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Deliver(ctx, testMessage(t, "reader@example.org"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver = %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Deliver took %v after its context ended", elapsed)
	}
	var se *SMTPError
	if !errors.As(err, &se) || !se.Temporary || se.Command != "DATA" {
		t.Errorf("error %#v: want a temporary *SMTPError for DATA", err)
	}
}

// The password appears in no form of an SMTP's description.
func TestSMTPStringRedactsPassword(t *testing.T) {
	s := newTestSMTP(t, "smtps://bob:hunter2%21@mail.example.com", nil)
	if got, want := s.String(), "smtps://bob:xxxxx@mail.example.com:465?tls=implicit"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, s); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%q) = %q holds the password", format, got)
		}
	}
	if got := s.LogValue().String(); strings.Contains(got, "hunter2") {
		t.Errorf("LogValue() = %q holds the password", got)
	}
}

func TestNewSMTPErrors(t *testing.T) {
	for _, rawURL := range []string{"ftp://mail.example.com", "smtp://", "smtp://mail.example.com?tls=sometimes"} {
		if _, err := NewSMTP(rawURL, SMTPOptions{}); err == nil {
			t.Errorf("NewSMTP(%q) succeeded, want an error", rawURL)
		}
	}
}
