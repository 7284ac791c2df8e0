package mailer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailerSendMaildir(t *testing.T) {
	dir := t.TempDir()
	md, err := NewMaildir(dir)
	if err != nil {
		t.Fatalf("NewMaildir: %v", err)
	}
	m := New(testComposer(t), md, nil, nil)
	defer m.Close()

	if err := m.Send(context.Background(), Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	err = m.Send(context.Background(), Message{To: "reader@example.org", Subject: "Hi\r\nBcc: victim@example.com", Text: "Hello"})
	if !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send with a line break in the subject = %v, want ErrInvalidMessage", err)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "new"))
	if len(files) != 1 {
		t.Errorf("new/ holds %d messages, want the 1 valid one", len(files))
	}
}

// Mailer and SMTP log what they do at debug level, never the password.
func TestMailerSendSMTPLogs(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	ts := startTestServer(t, testServerOptions{tls: serverTLS, users: map[string]string{"bob": "hunter2"}})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := NewSMTP("smtp://bob:hunter2@"+ts.addr, SMTPOptions{TLSConfig: clientTLS, Logger: logger})
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	m := New(testComposer(t), s, nil, logger)
	defer m.Close()

	if err := m.Send(context.Background(), Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	logger.Debug("Configured", slog.Any("smtp", s))
	if len(ts.mails()) != 1 {
		t.Errorf("server received %d messages, want 1", len(ts.mails()))
	}
	out := logs.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("logs hold the password:\n%s", out)
	}
	for _, want := range []string{"Connected to SMTP server", "Delivered message", "Sent message", "xxxxx"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}
