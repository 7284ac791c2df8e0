package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/store"
)

func TestSubscribersCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := &cli{env: map[string]string{
		"BROADSHEET_REDIS_URL": redistest.URL(t),
		"BROADSHEET_DATA_DIR":  filepath.Join(dir, "data"),
		"BROADSHEET_FROM":      "Test <news@example.com>",
	}}
	run := func(want int, args ...string) string {
		t.Helper()
		if code := c.run(ctx, args...); code != want {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, c.stdout.String(), c.stderr.String())
		}
		return c.stdout.String()
	}
	if out := run(0, "subscribers", "add", "Ann@Example.com", "--name", "Ann", "--status", "active"); !strings.Contains(out, "ann@example.com: added (active, id 1)") {
		t.Errorf("add: %q", out)
	}
	// A pending add mails a confirmation into the Maildir outbox.
	run(0, "subscribers", "add", "pending@example.com")
	outbox, _ := os.ReadDir(filepath.Join(dir, "data", "outbox", "new"))
	if len(outbox) != 1 {
		t.Errorf("%d mails in the outbox after adding a pending subscriber, want 1", len(outbox))
	}
	csvPath := filepath.Join(dir, "in.csv")
	os.WriteFile(csvPath, []byte("email,name\nb@example.com,Bee\nann@example.com,Dup\nbroken\n"), 0o644)
	if out := run(0, "subscribers", "import", csvPath); out != "added 1, existing 1, suppressed 0, invalid 1\n" {
		t.Errorf("import: %q", out)
	}
	if !strings.Contains(c.stderr.String(), "line 4:") {
		t.Errorf("import did not name the bad line: %q", c.stderr.String())
	}
	if out := run(0, "subscribers", "count"); out != "active 2\npending 1\nunsubscribed 0\nbounced 0\ncomplained 0\ntotal 3\n" {
		t.Errorf("count: %q", out)
	}
	if out := run(0, "subscribers", "list", "--status", "active"); !strings.Contains(out, "ann@example.com") || strings.Contains(out, "pending@") {
		t.Errorf("list --status active:\n%s", out)
	}
	if out := run(0, "subscribers", "export"); !strings.HasPrefix(out, "email,name,status,format,subscribed_at,confirmed_at\nann@example.com,Ann,active,html,") {
		t.Errorf("export:\n%s", out)
	}
	// A bounced address added again as active is reactivated.
	cfg := &config{RedisURL: c.env["BROADSHEET_REDIS_URL"], DataDir: c.env["BROADSHEET_DATA_DIR"]}
	conn, err := openRedis(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	if ok, err := store.New(conn.rdb, store.Options{}).Bounce(ctx, 1, time.Now()); !ok || err != nil {
		t.Fatalf("bounce ann: %v %v", ok, err)
	}
	if out := run(0, "subscribers", "add", "ann@example.com", "--status", "active"); !strings.Contains(out, "ann@example.com: reactivated (active, id 1)") {
		t.Errorf("add a bounced address as active: %q", out)
	}
	run(0, "subscribers", "remove", "b@example.com")
	run(2, "subscribers", "remove", "b@example.com")
	run(2, "subscribers", "add", "b@example.com", "--status", "active") // erased: refused
	run(2, "subscribers", "add", "not-an-address")
	run(2, "subscribers", "frobnicate")
	run(2, "subscribers", "import", filepath.Join(dir, "missing.csv"))
	if !strings.Contains(c.stderr.String(), "no such file") {
		t.Errorf("import of a missing file: %q", c.stderr.String())
	}
}
