package mailer

import (
	"bytes"
	"context"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaildirDeliver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	md, err := NewMaildir(dir)
	if err != nil {
		t.Fatalf("NewMaildir: %v", err)
	}
	for _, sub := range []string{"", "tmp", "new", "cur"} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s/%s: %v, %v; want a directory with mode 0700", dir, sub, fi.Mode(), err)
		}
	}

	c := testComposer(t)
	subjects := []string{"First", "Second"}
	for _, subject := range subjects {
		msg, err := c.Compose(Message{To: "reader@example.org", Subject: subject, Text: "Body of " + subject, HTML: "<p>" + subject + "</p>"})
		if err != nil {
			t.Fatalf("Compose: %v", err)
		}
		if err := md.Deliver(context.Background(), msg); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}

	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %d files after delivery, want none", len(left))
	}
	files, err := os.ReadDir(filepath.Join(dir, "new"))
	if err != nil {
		t.Fatalf("read new/: %v", err)
	}
	if len(files) != len(subjects) {
		t.Fatalf("new/ holds %d files, want %d", len(files), len(subjects))
	}
	var got []string
	for _, f := range files {
		if strings.ContainsAny(f.Name(), "/:") {
			t.Errorf("file name %q has / or :", f.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, "new", f.Name()))
		if err != nil {
			t.Fatalf("read %s: %v", f.Name(), err)
		}
		if bytes.Contains(b, []byte("\r")) {
			t.Errorf("%s has CR line ends, want Unix ones", f.Name())
		}
		parsed, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("ReadMessage %s: %v", f.Name(), err)
		}
		if _, err := io.ReadAll(parsed.Body); err != nil {
			t.Fatalf("read body of %s: %v", f.Name(), err)
		}
		if parsed.Header.Get("Message-ID") == "" || parsed.Header.Get("To") != "<reader@example.org>" {
			t.Errorf("%s: headers %v", f.Name(), parsed.Header)
		}
		got = append(got, parsed.Header.Get("Subject"))
	}
	if files[0].Name() == files[1].Name() {
		t.Errorf("both messages are named %s", files[0].Name())
	}
	if !(strings.Contains(strings.Join(got, ","), "First") && strings.Contains(strings.Join(got, ","), "Second")) {
		t.Errorf("subjects %v, want First and Second", got)
	}
}

func TestMaildirDeliverCanceled(t *testing.T) {
	dir := t.TempDir()
	md, err := NewMaildir(dir)
	if err != nil {
		t.Fatalf("NewMaildir: %v", err)
	}
	msg, err := testComposer(t).Compose(Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"})
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := md.Deliver(ctx, msg); err == nil {
		t.Fatal("Deliver with a canceled context succeeded")
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "new")); len(files) != 0 {
		t.Errorf("new/ holds %d files, want none", len(files))
	}
}
