package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Maildir delivers into a Maildir, the directory layout every mail client
// opens (`mutt -f DIR`): tmp/, new/ and cur/. It is safe for concurrent
// use, by this and other processes.
type Maildir struct {
	dir  string
	host string // this machine's name, as it may stand in a file name
}

// NewMaildir returns a Maildir at dir, creating dir, dir/tmp, dir/new and
// dir/cur (mode 0700) when they are missing.
func NewMaildir(dir string) (*Maildir, error) {
	for _, sub := range []string{"", "tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("mailer: create Maildir: %w", err)
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	// The Maildir convention for the two characters a unique name cannot
	// hold: "/" separates paths, ":" starts the flags of a file in cur/.
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return &Maildir{dir: dir, host: host}, nil
}

// Deliver writes msg to tmp/ under a unique name (time.pid_random.host),
// syncs it to disk, then renames it into new/, where mail clients look. The
// file has the Unix line endings Maildir readers expect.
func (m *Maildir) Deliver(ctx context.Context, msg *gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mailer: deliver to Maildir: %w", err)
	}
	_, data, err := renderMsg(msg)
	if err != nil {
		return err
	}
	return m.write(data)
}

// write stores a message (CRLF line endings, as sent by SMTP) in new/.
func (m *Maildir) write(msg []byte) error {
	content := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))

	name := m.uniqueName()
	tmp := filepath.Join(m.dir, "tmp", name)
	if err := writeSynced(tmp, content); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("mailer: deliver to Maildir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "new", name)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("mailer: deliver to Maildir: %w", err)
	}
	// The rename is durable once new/ itself is synced.
	if err := syncDir(filepath.Join(m.dir, "new")); err != nil {
		return fmt.Errorf("mailer: deliver to Maildir: %w", err)
	}
	return nil
}

// Close does nothing: Maildir holds nothing open.
func (m *Maildir) Close() error { return nil }

// uniqueName returns a name no other delivery uses: the time, this
// process, random bits, this host.
func (m *Maildir) uniqueName() string {
	var random [8]byte
	_, _ = rand.Read(random[:]) // crypto/rand.Read never fails
	return strconv.FormatInt(time.Now().Unix(), 10) + "." + strconv.Itoa(os.Getpid()) + "_" +
		hex.EncodeToString(random[:]) + "." + m.host
}

// writeSynced creates path (which must not exist) holding content, on disk
// when it returns.
func writeSynced(path string, content []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
