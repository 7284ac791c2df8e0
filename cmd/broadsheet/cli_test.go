package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
)

// cli runs the command line in-process with env as its only environment.
type cli struct {
	env    map[string]string
	stdin  string
	stdout syncBuffer
	stderr syncBuffer
}

// syncBuffer is a bytes.Buffer that a running serve can write to while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Bytes() []byte { return []byte(b.String()) }

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

func (c *cli) run(ctx context.Context, args ...string) int {
	c.stdout.Reset()
	c.stderr.Reset()
	err := run(ctx, args, stdio{
		getenv: func(k string) string { return c.env[k] },
		stdin:  strings.NewReader(c.stdin),
		stdout: &c.stdout, stderr: &c.stderr,
	})
	return report(err, &c.stderr)
}

func TestParseJSONShape(t *testing.T) {
	var c cli
	if code := c.run(context.Background(), "parse", "--json", "../../digest/testdata/frontpage.txt"); code != 0 {
		t.Fatalf("exit %d: %s", code, c.stderr.String())
	}
	var got struct {
		Headlines []struct {
			Title     string `json:"title"`
			Truncated bool   `json:"truncated"`
			URL       string `json:"url"`
		} `json:"headlines"`
		Lead *struct {
			Section, Title, Credit string
			Blocks                 []struct{ Type, Text string }
		} `json:"lead"`
	}
	dec := json.NewDecoder(bytes.NewReader(c.stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("output is not the documented shape: %v", err)
	}
	if len(got.Headlines) != 15 || got.Lead == nil || got.Lead.Section != "Tipsheet" || len(got.Lead.Blocks) != 13 {
		t.Errorf("parse --json: %d headlines, lead %+v", len(got.Headlines), got.Lead)
	}
	// Exact keys, in order, as documented.
	c.run(context.Background(), "parse", "--json", "../../digest/testdata/headlines-only.txt")
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, c.stdout.Bytes()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(compact.String(), `{"headlines":[{"title":"Council approves`) ||
		!strings.HasSuffix(compact.String(), `"truncated":false,"url":""}],"lead":null}`) {
		t.Errorf("parse --json of a headlines-only page: %s", compact)
	}
}

func TestParseStdinAndText(t *testing.T) {
	c := cli{stdin: "First headline here\nSecond headline here\nWorld\n\nThe Title\nA paragraph.\n"}
	if code := c.run(context.Background(), "parse", "-"); code != 0 {
		t.Fatalf("exit %d: %s", code, c.stderr.String())
	}
	out := c.stdout.String()
	for _, want := range []string{"Headlines (2):", "Section:  World", "Title:    The Title", "¶ A paragraph."} {
		if !strings.Contains(out, want) {
			t.Errorf("parse output lacks %q:\n%s", want, out)
		}
	}
}

// TestBadInputExitsTwo: a bad file or bad usage gets exit status 2 and one
// line on stderr, never a stack trace.
func TestBadInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	latin1 := write("latin1.txt", []byte("Caf\xe9\n"))
	empty := write("empty.txt", nil)
	big := write("big.txt", bytes.Repeat([]byte("headline\n"), 600_000))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not utf-8", []string{"parse", latin1}, "not UTF-8"},
		{"empty", []string{"parse", empty}, "empty"},
		{"too large", []string{"parse", big}, "larger than 5 MiB"},
		{"missing", []string{"parse", filepath.Join(dir, "nope.txt")}, "does not exist"},
		{"a directory", []string{"parse", dir}, "is a directory"},
		{"no file", []string{"parse"}, "give one FILE"},
		{"unknown flag", []string{"parse", "--yaml", "x"}, "flag provided but not defined"},
		{"unknown command", []string{"publish"}, `unknown command "publish"`},
		{"bad date", []string{"build", "--date", "2026-02-30"}, "not a day"},
		{"bad zone", []string{"build", "--timezone", "Mars/Olympus", "--data-dir", dir}, "not a time zone"},
		{"bad base url", []string{"build", "--base-url", "example.com", "--data-dir", dir}, "not an absolute http"},
		{"bad schedule", []string{"serve", "--schedule", "every day"}, "not a cron spec"},
		{"TZ in schedule", []string{"serve", "--schedule", "CRON_TZ=Nowhere 0 6 * * *"}, "--timezone"},
		{"bad build source", []string{"build", "--source", latin1, "--data-dir", dir}, "not UTF-8"},
		{"negative catch-up", []string{"serve", "--catch-up", "-1s"}, "--catch-up must not be negative"},
		{"no subscribe rate", []string{"serve", "--subscribe-rate", "0"}, "--subscribe-rate must be at least 1"},
		{"bounce breaker over 100%", []string{"send", "--bounce-breaker", "120%", "--data-dir", dir}, `--bounce-breaker "120%" is not a percentage`},
		{"bounce breaker not a number", []string{"send", "--bounce-breaker", "lots", "--data-dir", dir}, `--bounce-breaker "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c cli
			code := c.run(context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2 (stderr %q)", code, c.stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(c.stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "broadsheet: ") || !strings.Contains(last, tt.want) {
				t.Errorf("stderr's last line %q does not say %q", last, tt.want)
			}
			if strings.Contains(c.stderr.String(), "goroutine ") || strings.Contains(c.stderr.String(), "panic") {
				t.Errorf("stderr shows a stack trace:\n%s", c.stderr.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"serve", "build", "parse", "subscribers", "send", "preview"} {
		var c cli
		if code := c.run(context.Background(), cmd, "--help"); code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		if out := c.stdout.String(); !strings.HasPrefix(out, "Usage:") || !strings.Contains(out, "broadsheet "+cmd+" ") {
			t.Errorf("%s --help printed %q", cmd, c.stdout.String())
		}
	}
	var c cli
	if code := c.run(context.Background()); code != 2 || !strings.Contains(c.stderr.String(), "Usage:") {
		t.Errorf("no command: exit %d, stderr %q", code, c.stderr.String())
	}
}

// TestHelpListsOnlyTheCommandsFlags: each --help names the command's
// arguments and lists the flags it uses, shared ones under headings.
func TestHelpListsOnlyTheCommandsFlags(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"subscribers", "add", "--help"},
			[]string{"Usage: broadsheet subscribers add EMAIL [--name NAME]", "\nFlags:\n  -consent", "Store flags (every command):", "-data-dir", "-from"},
			[]string{"-headline-selector", "-smtp-connections", "-source", "-postal-address", "-schedule"}},
		{[]string{"subscribers", "count", "--help"},
			[]string{"Usage: broadsheet subscribers count", "-redis-url"},
			[]string{"-from", "-name", "-title"}},
		{[]string{"build", "--help"},
			[]string{"Usage: broadsheet build [--date YYYY-MM-DD]", "-date", "Edition flags (build, serve):", "-headline-selector", "-schedule"},
			[]string{"-smtp-connections", "-from", "-postal-address", "-catch-up"}},
		{[]string{"send", "--help"},
			[]string{"-resend-failed", "Sending flags (serve, send):", "-smtp-connections", "-postal-address"},
			[]string{"-headline-selector", "-source", "-catch-up", "-consent-version"}},
		{[]string{"preview", "--help"},
			[]string{"-format", "-postal-address"},
			[]string{"-smtp-connections", "-source", "-catch-up"}},
		{[]string{"serve", "--help"},
			[]string{"-catch-up", "-consent-version", "-source", "-smtp-connections", "-postal-address"},
			nil},
	} {
		var c cli
		if code := c.run(context.Background(), tc.args...); code != 0 {
			t.Errorf("%v: exit %d", tc.args, code)
		}
		out := c.stdout.String()
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v lacks %q:\n%s", tc.args, w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n+" ") || strings.Contains(out, n+"\n") {
				t.Errorf("%v lists %s, which it does not use", tc.args, n)
			}
		}
	}
}

// TestCommandsReadOnlyTheirVariables: a variable of a flag a command does
// not use does not stop it.
func TestCommandsReadOnlyTheirVariables(t *testing.T) {
	c := cli{env: map[string]string{"BROADSHEET_REDIS_URL": "redis://" + redistest.Start(t), "BROADSHEET_DATA_DIR": t.TempDir(),
		"BROADSHEET_SCHEDULE": "whenever", "BROADSHEET_SMTP_CONNECTIONS": "many"}}
	if code := c.run(context.Background(), "subscribers", "count"); code != 0 {
		t.Errorf("subscribers count read another command's variables: exit %d, %s", code, c.stderr.String())
	}
	if code := c.run(context.Background(), "build"); code != 2 || !strings.Contains(c.stderr.String(), "whenever") {
		t.Errorf("build ignored its own BROADSHEET_SCHEDULE: exit %d, %s", code, c.stderr.String())
	}
}

func TestEnvironmentSetsFlagsAndFlagsWin(t *testing.T) {
	c := cli{env: map[string]string{"BROADSHEET_TIMEZONE": "Nowhere/Land", "BROADSHEET_DATA_DIR": t.TempDir()}}
	if code := c.run(context.Background(), "build"); code != 2 || !strings.Contains(c.stderr.String(), `"Nowhere/Land"`) {
		t.Errorf("BROADSHEET_TIMEZONE was not used: exit %d, %s", code, c.stderr.String())
	}
	// The flag wins over the variable: the same build with --timezone
	// runs (on the embedded sample front page).
	c.env["BROADSHEET_REDIS_URL"] = redistest.URL(t)
	if code := c.run(context.Background(), "build", "--timezone", "UTC"); code != 0 {
		t.Errorf("--timezone UTC did not win over BROADSHEET_TIMEZONE: exit %d, %s", code, c.stderr.String())
	}
	// A variable is read by the command line's own parser: a bad one is
	// named, and a value the flag takes (0s) the variable takes too.
	c.env["BROADSHEET_CATCH_UP"] = "soon"
	if code := c.run(context.Background(), "serve"); code != 2 || !strings.Contains(c.stderr.String(), `$BROADSHEET_CATCH_UP="soon" is not a duration`) {
		t.Errorf("bad BROADSHEET_CATCH_UP: exit %d, %s", code, c.stderr.String())
	}
	c.env["BROADSHEET_CATCH_UP"] = "0s" // taken: the next complaint is the schedule's
	if code := c.run(context.Background(), "serve", "--schedule", "every day"); code != 2 || !strings.Contains(c.stderr.String(), "not a cron spec") {
		t.Errorf("BROADSHEET_CATCH_UP=0s: exit %d, %s", code, c.stderr.String())
	}
	delete(c.env, "BROADSHEET_CATCH_UP")
	c.env["BROADSHEET_KEEP_EDITIONS"] = "many"
	if code := c.run(context.Background(), "build", "--timezone", "UTC"); code != 2 || !strings.Contains(c.stderr.String(), "not a whole number") {
		t.Errorf("bad BROADSHEET_KEEP_EDITIONS: exit %d, %s", code, c.stderr.String())
	}
}

// TestBuildDateBounds: build --date takes days from 1970 up to tomorrow
// in --timezone; others exit 2 with one sentence, and the API says 400.
func TestBuildDateBounds(t *testing.T) {
	c := cli{env: map[string]string{"BROADSHEET_REDIS_URL": "redis://" + redistest.Start(t), "BROADSHEET_DATA_DIR": t.TempDir()}}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	for _, day := range []string{"9999-12-31", "1969-12-31", time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")} {
		if code := c.run(context.Background(), "build", "--date", day); code != 2 || !strings.HasPrefix(c.stderr.String(), "broadsheet: --date "+day+" is ") || strings.Count(c.stderr.String(), "\n") != 1 {
			t.Errorf("--date %s: exit %d, %q", day, code, c.stderr.String())
		}
	}
	if code := c.run(context.Background(), "build", "--date", tomorrow); code != 0 {
		t.Errorf("--date %s (tomorrow): exit %d, %s", tomorrow, code, c.stderr.String())
	}
}
