package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// previewCLI returns a CLI on a fresh real Redis with the sample edition
// of 2026-11-27 built.
func previewCLI(t *testing.T) *cli {
	t.Helper()
	c := &cli{env: map[string]string{
		"BROADSHEET_REDIS_URL":      redistest.URL(t),
		"BROADSHEET_DATA_DIR":       filepath.Join(t.TempDir(), "data"),
		"BROADSHEET_FROM":           "The Test Times <news@example.com>",
		"BROADSHEET_TITLE":          "The Test Times",
		"BROADSHEET_BASE_URL":       "https://news.example.com/",
		"BROADSHEET_SECRET":         testSecret,
		"BROADSHEET_POSTAL_ADDRESS": `The Test Times\n1 Example Street, Springfield`,
	}}
	if code := c.run(context.Background(), "build", "--date", "2026-11-27"); code != 0 {
		t.Fatalf("build: exit %d: %s", code, c.stderr.String())
	}
	return c
}

// mustRun runs args and returns stdout, failing unless the exit status is
// want.
func (c *cli) mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	if code := c.run(context.Background(), args...); code != want {
		t.Fatalf("%v: exit %d, want %d\nstderr: %s", args, code, want, c.stderr.String())
	}
	return c.stdout.String()
}

var unsubscribeHeader = regexp.MustCompile(`^<(https?://[^>]+/unsubscribe/([A-Za-z0-9_-]+))>$`)

func TestPreviewFormats(t *testing.T) {
	c := previewCLI(t)

	html := c.mustRun(t, 0, "preview")
	for _, want := range []string{
		"<!DOCTYPE html>", "Unholy Alliance Seeks Closer Cooperation",
		`<td class="headline" style="`, "reader@example.com subscribed",
		`href="https://news.example.com/unsubscribe/`, `href="https://news.example.com/editions/2026-11-27"`,
		"The Test Times<br/>1 Example Street, Springfield",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("preview (html) lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") || strings.Contains(html, "<form") {
		t.Errorf("preview (html) holds a script or a form")
	}

	text := c.mustRun(t, 0, "preview", "--format", "text", "--edition", "2026-11-27")
	for _, want := range []string{"The Test Times · Friday, 27 November 2026", "TIPSHEET\n", "Unsubscribe: https://news.example.com/unsubscribe/", "\n-- \n"} {
		if !strings.Contains(text, want) {
			t.Errorf("preview --format text lacks %q", want)
		}
	}

	eml := c.mustRun(t, 0, "preview", "--format", "eml")
	msg, err := mail.ReadMessage(strings.NewReader(eml))
	if err != nil {
		t.Fatalf("preview --format eml does not parse: %v", err)
	}
	mediaType, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	var types []string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
	}
	if strings.Join(types, ", ") != "text/plain; charset=UTF-8, text/html; charset=UTF-8" {
		t.Errorf("parts: %v", types)
	}
	if to := msg.Header.Get("To"); to != "Sample Reader <reader@example.com>" {
		t.Errorf("To: %q", to)
	}
	// The unsubscribe link is absolute, and its token is the app's.
	m := unsubscribeHeader.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil {
		t.Fatalf("List-Unsubscribe %q", msg.Header.Get("List-Unsubscribe"))
	}
	if u, err := url.Parse(m[1]); err != nil || !u.IsAbs() || u.Host != "news.example.com" {
		t.Errorf("unsubscribe link %q is not absolute", m[1])
	}
	signer, _ := subscription.NewSigner([]string{testSecret})
	if id, _, err := signer.Verify(subscription.PurposeUnsubscribe, m[2]); err != nil || id != mailer.SampleSubscriberID {
		t.Errorf("the unsubscribe token does not verify: id %d, %v", id, err)
	}
}

func TestPreviewRefuses(t *testing.T) {
	c := previewCLI(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "edition.txt")
	if err := os.WriteFile(broken, []byte("{{.UnsubscribeURL}}\n{{range .Edition.Page.Headlines}}\n{{.Nope}}\n{{end}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown edition", []string{"preview", "--edition", "2026-01-01"}, "no edition 2026-01-01"},
		{"not a day", []string{"preview", "--edition", "yesterday"}, "not a day"},
		{"unknown format", []string{"preview", "--format", "pdf"}, `"pdf" is not html, text or eml`},
		{"unknown subscriber", []string{"preview", "--to", "nobody@example.com"}, "no subscriber nobody@example.com"},
		{"broken override", []string{"preview", "--templates-dir", dir}, broken + ":3:"},
		{"bad subject", []string{"preview", "--subject", "{{.Nope}}"}, "--subject"},
		{"no edition yet", []string{"preview", "--redis-prefix", "empty:"}, "no edition yet"},
		{"DKIM without selector", []string{"preview", "--dkim-key-file", broken}, "--dkim-selector"},
		{"bad reply-to", []string{"preview", "--reply-to", "not an address"}, "--reply-to"},
		{"bad list-help", []string{"preview", "--list-help", "ftp://x.example/"}, "--list-help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := c.run(context.Background(), tt.args...); code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, c.stderr.String())
			}
			out := strings.TrimSuffix(c.stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.HasPrefix(out, "broadsheet: ") || !strings.Contains(out, tt.want) {
				t.Errorf("stderr %q, want one line saying %q", out, tt.want)
			}
		})
	}
}

func TestPreviewDKIM(t *testing.T) {
	c := previewCLI(t)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.env["BROADSHEET_DKIM_KEY_FILE"] = keyFile
	c.env["BROADSHEET_DKIM_SELECTOR"] = "brief"
	eml := c.mustRun(t, 0, "preview", "--format", "eml")
	if !strings.HasPrefix(eml, "DKIM-Signature: ") {
		t.Fatalf("eml does not start with a signature:\n%.300s", eml)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader([]byte(eml)), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "brief._domainkey.example.com" {
				t.Errorf("looked up %q", domain)
			}
			return []string{record}, nil
		}})
	if err != nil || len(verifications) != 1 || verifications[0].Err != nil {
		t.Fatalf("verify: %v %+v", err, verifications)
	}
	if !strings.Contains(c.stderr.String(), "Only an Ed25519 DKIM key") {
		t.Errorf("an Ed25519 key alone starts without a warning:\n%s", c.stderr.String())
	}
}

// TestPreviewUnsubscribeLinkWorks follows a real subscriber's preview
// against the running server: the List-Unsubscribe link's GET changes
// nothing, its one-click POST unsubscribes.
func TestPreviewUnsubscribeLinkWorks(t *testing.T) {
	s := startStack(t, nil)
	c := &cli{env: s.cli.env}
	c.mustRun(t, 0, "subscribers", "add", "ann@example.com", "--name", "Ann", "--status", "active")
	eml := c.mustRun(t, 0, "preview", "--to", "ann@example.com", "--format", "eml")
	msg, err := mail.ReadMessage(strings.NewReader(eml))
	if err != nil {
		t.Fatal(err)
	}
	if to := msg.Header.Get("To"); to != "Ann <ann@example.com>" {
		t.Errorf("To: %q", to)
	}
	m := unsubscribeHeader.FindStringSubmatch(msg.Header.Get("List-Unsubscribe"))
	if m == nil || !strings.HasPrefix(m[1], s.url) {
		t.Fatalf("List-Unsubscribe %q does not point at %s", msg.Header.Get("List-Unsubscribe"), s.url)
	}
	if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post: %q", got)
	}
	if resp, _ := get(t, m[1]); resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", m[1], resp.StatusCode)
	}
	if v := s.subscriber(t, "ann@example.com"); v.Status != "active" {
		t.Fatalf("a GET of the unsubscribe link changed the status to %s", v.Status)
	}
	if resp, _ := post(t, m[1], formType, form("List-Unsubscribe", "One-Click")); resp.StatusCode != 200 {
		t.Errorf("one-click POST: %d", resp.StatusCode)
	}
	if v := s.subscriber(t, "ann@example.com"); v.Status != "unsubscribed" || v.Consent["left_how"] != "one-click" {
		t.Errorf("after the one-click POST: %+v", v)
	}
}

// With --bounce-address the mail names its subscriber's own mailto:
// address, and --unsubscribe-mailbox picks its base.
func TestPreviewMailtoWithBounceAddress(t *testing.T) {
	c := previewCLI(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--bounce-address", "bounces@bounces.example.com"}, `^<mailto:unsubscribe\+[a-z2-7]{20,40}@bounces\.example\.com\?subject=unsubscribe>$`},
		{[]string{"--bounce-address", "bounces@bounces.example.com", "--unsubscribe-mailbox", "leave@example.com"}, `^<mailto:leave\+[a-z2-7]{20,40}@example\.com\?subject=unsubscribe>$`},
		{[]string{"--bounce-address", "bounces@bounces.example.com", "--unsubscribe-mailbox", "-"}, `^$`},
	} {
		c.stdout.Reset()
		eml := c.mustRun(t, 0, append([]string{"preview", "--format", "eml"}, tt.args...)...)
		msg, err := mail.ReadMessage(strings.NewReader(eml))
		if err != nil {
			t.Fatal(err)
		}
		_, mailto, _ := strings.Cut(msg.Header.Get("List-Unsubscribe"), ", ")
		if !regexp.MustCompile(tt.want).MatchString(mailto) {
			t.Errorf("%v: List-Unsubscribe %q", tt.args, msg.Header.Get("List-Unsubscribe"))
		}
	}
}
