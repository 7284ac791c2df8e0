package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/templates"
)

var digestNow = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)

func digestComposer(tb testing.TB) *Composer {
	tb.Helper()
	c, err := NewComposer("Daily Brief <news@example.com>", func() time.Time { return digestNow })
	if err != nil {
		tb.Fatalf("NewComposer: %v", err)
	}
	return c
}

func testMails(tb testing.TB) *templates.EditionMail {
	tb.Helper()
	m, err := templates.NewEditionMail(templates.EditionMailOptions{})
	if err != nil {
		tb.Fatalf("NewEditionMail: %v", err)
	}
	return m
}

func testDigestConfig() DigestConfig {
	base, _ := url.Parse("https://news.example.com/")
	return DigestConfig{Site: templates.MailSite{Title: "Daily Brief", Base: base,
		PostalAddress: "Broadsheet News\n1 Example Street, Springfield"}}
}

func sampleEdition(tb testing.TB) digest.Edition {
	tb.Helper()
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		tb.Fatal(err)
	}
	e, err := digest.Build("2026-11-27", page)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func newTestDigest(tb testing.TB, e digest.Edition, cfg DigestConfig) *Digest {
	tb.Helper()
	d, err := NewDigest(digestComposer(tb), testMails(tb), e, cfg)
	if err != nil {
		tb.Fatalf("NewDigest: %v", err)
	}
	return d
}

func testRecipient(id int64) Recipient {
	return Recipient{ID: id, Email: fmt.Sprintf("reader%d@example.org", id), Name: "Zoë Reader", Format: digest.FormatHTML,
		UnsubscribeURL: fmt.Sprintf("https://news.example.com/unsubscribe/u%dtoken", id),
		PreferencesURL: fmt.Sprintf("https://news.example.com/preferences/p%dtoken", id)}
}

// mimePart is one part of a message as read back, its body decoded.
type mimePart struct {
	header    textproto.MIMEHeader
	mediaType string
	params    map[string]string
	body      string
}

// readMessage parses raw with net/mail and mime/multipart, decoding each
// part's quoted-printable body itself (multipart would do it silently).
func readMessage(tb testing.TB, raw []byte) (*mail.Message, []mimePart) {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		tb.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		return msg, []mimePart{decodePart(tb, textproto.MIMEHeader(msg.Header), msg.Body)}
	}
	var parts []mimePart
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("NextRawPart: %v", err)
		}
		parts = append(parts, decodePart(tb, p.Header, p))
	}
	return msg, parts
}

func decodePart(tb testing.TB, h textproto.MIMEHeader, body io.Reader) mimePart {
	tb.Helper()
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		tb.Fatalf("part Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if got, want := h.Get("Content-Transfer-Encoding"), "quoted-printable"; got != want {
		tb.Fatalf("part %s: Content-Transfer-Encoding %q, want %q", mediaType, got, want)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(body))
	if err != nil {
		tb.Fatalf("part %s: decode quoted-printable: %v", mediaType, err)
	}
	// Mail clients read CRLF as a line break; the parts are compared with
	// the LF-ended text Digest.Text and Digest.HTML return.
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	return mimePart{header: h, mediaType: mediaType, params: params, body: text}
}

func decodedHeader(tb testing.TB, h mail.Header, name string) string {
	tb.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(h.Get(name))
	if err != nil {
		tb.Fatalf("decode %s %q: %v", name, h.Get(name), err)
	}
	return v
}

func TestDigestMessageParts(t *testing.T) {
	d := newTestDigest(t, sampleEdition(t), testDigestConfig())
	r := testRecipient(7)
	raw, err := d.Message(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, parts := readMessage(t, raw)
	mediaType, _, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2 (text, then HTML)", len(parts))
	}
	for i, want := range []string{"text/plain", "text/html"} {
		if got := parts[i].mediaType; got != want {
			t.Errorf("part %d is %s, want %s", i+1, got, want)
		}
		if got := parts[i].params["charset"]; !strings.EqualFold(got, "utf-8") {
			t.Errorf("part %d charset %q, want utf-8", i+1, got)
		}
	}
	text, html := parts[0].body, parts[1].body
	if text != d.Text(r) {
		t.Errorf("the text part does not decode to Digest.Text")
	}
	if html != d.HTML(r) {
		t.Errorf("the HTML part does not decode to Digest.HTML")
	}
	for _, want := range []string{
		"Daily Brief · Friday, 27 November 2026",
		"Read it in your browser: https://news.example.com/editions/2026-11-27",
		"* Iran Loads Up Missiles After Trump Issues Threat",
		"TIPSHEET\nUnholy Alliance Seeks Closer Cooperation With Russia-North Korea Mutual\nDefense Pact\n===",
		"Korean Central News Agency/Korea News Service via AP",
		"Russian President Vladimir Putin and North Korean leader Kim Jong Un signed\n",
		"You get Daily Brief because you subscribed to it.\nThis mail was sent to reader7@example.org.\n",
		"Unsubscribe: https://news.example.com/unsubscribe/u7token\n",
		"Preferences: https://news.example.com/preferences/p7token\n",
		"Feed (RSS): https://news.example.com/feed.rss",
		"Broadsheet News\n1 Example Street, Springfield\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
	for _, want := range []string{
		`href="https://news.example.com/unsubscribe/u7token"`,
		`href="https://news.example.com/preferences/p7token"`,
		`href="https://news.example.com/editions/2026-11-27"`,
		`href="https://news.example.com/feed.rss"`,
		"reader7@example.org subscribed",
		"Broadsheet News<br/>1 Example Street, Springfield",
		"Unholy Alliance Seeks Closer Cooperation",
		"Iran Loads Up Missiles After Trump Issues Threat",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		if n := len([]rune(line)); n > 76 && !strings.Contains(line, "https://") {
			t.Errorf("text line of %d characters, want at most 76: %q", n, line)
		}
	}
}

func TestDigestHeaders(t *testing.T) {
	d := newTestDigest(t, sampleEdition(t), testDigestConfig())
	r := testRecipient(7)
	raw, err := d.Message(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := readMessage(t, raw)
	h := msg.Header
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].String() != `"Daily Brief" <news@example.com>` {
		t.Errorf("From = %v (%v)", from, err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "Zoë Reader" || to[0].Address != "reader7@example.org" {
		t.Errorf("To = %v (%v), want Zoë Reader <reader7@example.org>", to, err)
	}
	if got, want := decodedHeader(t, h, "Subject"), "Daily Brief: Unholy Alliance Seeks Closer Cooperation With Russia-North Korea Mutual Defense Pact"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if date, err := h.Date(); err != nil || !date.Equal(digestNow) {
		t.Errorf("Date = %v (%v), want %v", date, err, digestNow)
	}
	if got, want := h.Get("Message-ID"), "<"+d.MessageID(r)+">"; got != want || !regexp.MustCompile(`^<[a-z2-7]{32}@example\.com>$`).MatchString(got) {
		t.Errorf("Message-ID = %q, want %q, of the form <HASH@example.com>", got, want)
	}
	if got, want := h.Get("List-Id"), "Daily Brief <daily-brief.example.com>"; got != want {
		t.Errorf("List-Id = %q, want %q", got, want)
	}
	if got, want := h.Get("List-Unsubscribe"), "<https://news.example.com/unsubscribe/u7token>, <mailto:unsubscribe@example.com?subject=unsubscribe>"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
	if got, want := h.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"; got != want {
		t.Errorf("List-Unsubscribe-Post = %q, want %q", got, want)
	}
	if got := h.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	if got, want := h.Get("List-Archive"), "<https://news.example.com/archive>"; got != want {
		t.Errorf("List-Archive = %q, want %q", got, want)
	}
	if len(h) != 11 {
		t.Errorf("header fields %v, want exactly From, To, Subject, Date, Message-ID, List-Id, List-Archive, List-Unsubscribe, List-Unsubscribe-Post, MIME-Version, Content-Type", names)
	}
	if h.Get("Reply-To") != "" || h.Get("List-Help") != "" {
		t.Error("Reply-To or List-Help without being set")
	}

	// Reply-To and List-Help when set.
	cfg := testDigestConfig()
	cfg.ReplyTo, cfg.ListHelp = "The Desk <desk@example.com>", "https://news.example.com/help"
	raw, err = newTestDigest(t, sampleEdition(t), cfg).Message(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = readMessage(t, raw)
	if got := msg.Header.Get("Reply-To"); got != "The Desk <desk@example.com>" {
		t.Errorf("Reply-To = %q", got)
	}
	if got := msg.Header.Get("List-Help"); got != "<https://news.example.com/help>" {
		t.Errorf("List-Help = %q", got)
	}
	for _, bad := range []DigestConfig{{ReplyTo: "desk@example.com\r\nBcc: x@example.net"}, {ReplyTo: "not an address"}, {ListHelp: "javascript:alert(1)"}, {ListHelp: "https://x.example/a>b"}} {
		c := testDigestConfig()
		c.ReplyTo, c.ListHelp = bad.ReplyTo, bad.ListHelp
		if _, err := NewDigest(digestComposer(t), testMails(t), sampleEdition(t), c); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Reply-To %q, List-Help %q: %v, want ErrInvalidMessage", bad.ReplyTo, bad.ListHelp, err)
		}
	}
}

func TestDigestTextOnly(t *testing.T) {
	d := newTestDigest(t, sampleEdition(t), testDigestConfig())
	r := testRecipient(8)
	r.Format = digest.FormatText
	raw, err := d.Message(r)
	if err != nil {
		t.Fatal(err)
	}
	msg, parts := readMessage(t, raw)
	if len(parts) != 1 || parts[0].mediaType != "text/plain" || !strings.EqualFold(parts[0].params["charset"], "utf-8") {
		t.Fatalf("text subscriber got Content-Type %q, want one text/plain part", msg.Header.Get("Content-Type"))
	}
	if parts[0].body != d.Text(r) {
		t.Errorf("text-only body does not decode to Digest.Text")
	}
	if bytes.Contains(raw, []byte("text/html")) {
		t.Errorf("a text subscriber's message holds an HTML part")
	}
	if msg.Header.Get("List-Unsubscribe") == "" {
		t.Errorf("text-only message lacks List-Unsubscribe")
	}
}

func TestDigestMessageID(t *testing.T) {
	cfg := testDigestConfig()
	e := sampleEdition(t)
	d1, d2 := newTestDigest(t, e, cfg), newTestDigest(t, e, cfg)
	other := e
	other.ID = "2026-11-28"
	d3 := newTestDigest(t, other, cfg)
	id := func(d *Digest, sub int64) string {
		t.Helper()
		raw, err := d.Message(testRecipient(sub))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := readMessage(t, raw)
		return msg.Header.Get("Message-ID")
	}
	tests := []struct {
		name  string
		a, b  string
		equal bool
	}{
		{"same edition and subscriber, same digest", id(d1, 1), id(d1, 1), true},
		{"same edition and subscriber, rendered again (a retry after a restart)", id(d1, 1), id(d2, 1), true},
		{"another subscriber", id(d1, 1), id(d1, 2), false},
		{"another edition", id(d1, 1), id(d3, 1), false},
	}
	// Nothing in it tells the subscriber's number.
	for _, sub := range []int64{1234, 987654, 31337} { // several digits: the hash uses 2-7
		if got := id(d1, sub); strings.Contains(got, strconv.FormatInt(sub, 10)) || strings.Contains(got, "2026") {
			t.Errorf("the Message-ID %q shows the subscriber number %d or the edition", got, sub)
		}
	}
	withNonce := func(nonce string) string {
		r := testRecipient(1)
		r.Nonce = nonce
		return d1.MessageID(r)
	}
	if withNonce("a") == withNonce("b") || withNonce("a") != withNonce("a") {
		t.Error("the nonce does not make a new Message-ID")
	}
	for _, tt := range tests {
		if (tt.a == tt.b) != tt.equal {
			t.Errorf("%s: %q vs %q, want equal=%v", tt.name, tt.a, tt.b, tt.equal)
		}
	}
	keyed := cfg
	keyed.MessageIDKey = []byte("a secret of sixteen bytes or more")
	if a, b := id(d1, 1), id(newTestDigest(t, e, keyed), 1); a == b {
		t.Errorf("the Message-ID key does not change the hash: %q", a)
	}
}

// checkLines checks the message's line endings and lengths: CRLF only,
// header lines within 998 octets, body lines within 76.
func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	if bytes.Count(raw, []byte("\n")) != bytes.Count(raw, []byte("\r\n")) || bytes.Count(raw, []byte("\r")) != bytes.Count(raw, []byte("\r\n")) {
		t.Errorf("the message has a bare CR or LF")
	}
	inBody := false
	for i, line := range strings.Split(string(raw), "\r\n") {
		if line == "" {
			inBody = true
		}
		limit := 998
		if inBody {
			limit = 76
		}
		if len(line) > limit {
			t.Errorf("line %d is %d octets, more than %d: %.60q…", i+1, len(line), limit, line)
		}
	}
}

func TestDigestLineLengths(t *testing.T) {
	words := strings.Repeat("word ", 1000)                      // 5,000 characters in words
	unbroken := strings.Repeat("é", 2500)                       // 5,000 octets without a space
	url5k := "https://example.com/" + strings.Repeat("a", 5000) // a headline link
	e, err := digest.Build("2026-11-27", digest.FrontPage{
		Headlines: []digest.Headline{{Title: "A headline", URL: url5k}},
		Lead: &digest.Lead{Title: strings.Repeat("Long title ", 40), Blocks: []digest.Block{
			{Type: digest.Paragraph, Text: words}, {Type: digest.Paragraph, Text: unbroken}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDigest(t, e, testDigestConfig())
	r := testRecipient(3)
	r.Name = strings.Repeat("Name ", 20)
	for _, format := range []digest.MailFormat{digest.FormatHTML, digest.FormatText} {
		r.Format = format
		raw, err := d.Message(r)
		if err != nil {
			t.Fatal(err)
		}
		checkLines(t, raw)
		_, parts := readMessage(t, raw)
		if !strings.Contains(parts[0].body, unbroken) || !strings.Contains(parts[0].body, url5k) {
			t.Errorf("%s: the text part lost the unbroken paragraph or the long link", format)
		}
	}
}

func TestDigestHTML(t *testing.T) {
	d := newTestDigest(t, sampleEdition(t), testDigestConfig())
	html := d.HTML(testRecipient(1))
	if len(html) >= 100*1024 {
		t.Errorf("HTML part is %d bytes, want under 100 KB", len(html))
	}
	t.Logf("sample edition: HTML part %d bytes, text part %d bytes", len(html), len(d.Text(testRecipient(1))))
	lower := strings.ToLower(html)
	for _, banned := range []string{"<script", "<form", "<input", "<iframe", "javascript:"} {
		if strings.Contains(lower, banned) {
			t.Errorf("HTML part holds %q", banned)
		}
	}
	// The CSS is inlined: what stays in <style> is only what cannot be
	// (media queries for small screens and dark mode).
	if n := strings.Count(lower, "<style"); n != 1 {
		t.Errorf("%d <style> blocks, want 1 (the media queries)", n)
	}
	style := lower[strings.Index(lower, "<style"):strings.Index(lower, "</style>")]
	if rest := style[strings.Index(style, ">")+1:]; !strings.HasPrefix(strings.TrimSpace(rest), "@media") {
		t.Errorf("the <style> block holds rules outside media queries: %.200s", rest)
	}
	for _, want := range []string{
		`<body style="margin:0;`,
		`class="container" width="600"`,
		`<p class="paragraph" style="margin:0 0 16px">`,
		`<h1 class="title" style="`,
		`<td class="headline" style="padding:8px 0;`,
		`<div class="preheader" style="display:none;`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q: CSS not inlined", want)
		}
	}
	if !strings.Contains(html, ">Russian President Vladimir Putin and North Korean leader Kim Jong Un signed a defense treaty on June 19,") {
		t.Errorf("the preheader is not the lead's first sentence")
	}
}

func TestDigestCutsLongLeadInHTML(t *testing.T) {
	blocks := make([]digest.Block, 300)
	for i := range blocks {
		blocks[i] = digest.Block{Type: digest.Paragraph, Text: fmt.Sprintf("Paragraph %d. %s", i, strings.Repeat("Some words here. ", 30))}
	}
	e, err := digest.Build("2026-11-27", digest.FrontPage{Lead: &digest.Lead{Title: "A very long lead", Blocks: blocks}})
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDigest(t, e, testDigestConfig())
	r := testRecipient(1)
	html, text := d.HTML(r), d.Text(r)
	if !d.Continued() || len(html) > templates.DefaultMaxHTMLBytes+1000 {
		t.Errorf("HTML part of %d bytes (continued %v), want it cut under %d", len(html), d.Continued(), templates.DefaultMaxHTMLBytes)
	}
	if !strings.Contains(html, "Continue reading in your browser") || !strings.Contains(html, "Paragraph 0.") || strings.Contains(html, "Paragraph 299.") {
		t.Errorf("the cut HTML part does not end with a link to the rest")
	}
	if !strings.Contains(text, "Paragraph 299.") {
		t.Errorf("the text part was cut too")
	}
}

func TestDigestHeaderInjection(t *testing.T) {
	base := sampleEdition(t)
	evilLead := *base.Page.Lead
	evilLead.Title = "Title\r\nBcc: victim@example.net\r\n\r\nbody"
	evil := base
	evil.Page.Lead = &evilLead
	evilCfg := testDigestConfig()
	evilCfg.Site.Title = "Brief\nBcc: victim@example.net"

	tests := []struct {
		name    string
		edition digest.Edition
		cfg     DigestConfig
		change  func(*Recipient)
		wantErr bool
	}{
		{"line break in the name", base, testDigestConfig(), func(r *Recipient) { r.Name = "Eve\r\nBcc: victim@example.net" }, false},
		{"line break in the lead's title", evil, testDigestConfig(), nil, false},
		{"line break in the site's title", base, evilCfg, nil, false},
		{"line break in the address", base, testDigestConfig(), func(r *Recipient) { r.Email = "eve@example.org\r\nBcc: victim@example.net" }, true},
		{"a display name as the address", base, testDigestConfig(), func(r *Recipient) { r.Email = "Eve <eve@example.org>" }, true},
		{"line break in the unsubscribe link", base, testDigestConfig(), func(r *Recipient) { r.UnsubscribeURL += "\r\nBcc: victim@example.net" }, true},
		{"a comma in the unsubscribe link", base, testDigestConfig(), func(r *Recipient) { r.UnsubscribeURL += ",<mailto:x@example.net>" }, true},
		{"a relative unsubscribe link", base, testDigestConfig(), func(r *Recipient) { r.UnsubscribeURL = "/unsubscribe/x" }, true},
		{"a javascript: preferences link", base, testDigestConfig(), func(r *Recipient) { r.PreferencesURL = "javascript:alert(1)" }, true},
		{"a quote in the preferences link", base, testDigestConfig(), func(r *Recipient) { r.PreferencesURL += `"onclick="x` }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDigest(t, tt.edition, tt.cfg)
			r := testRecipient(5)
			if tt.change != nil {
				tt.change(&r)
			}
			raw, err := d.Message(r)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidMessage) {
					t.Fatalf("err = %v, want ErrInvalidMessage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkLines(t, raw)
			msg, parts := readMessage(t, raw)
			if len(msg.Header) != 11 || msg.Header.Get("Bcc") != "" {
				t.Errorf("header fields: %v", msg.Header)
			}
			if len(parts) != 2 {
				t.Errorf("%d parts, want 2", len(parts))
			}
			for _, name := range []string{"Subject", "To", "List-Id"} {
				if v := decodedHeader(t, msg.Header, name); strings.ContainsAny(v, "\r\n") {
					t.Errorf("%s decodes to a value with a line break: %q", name, v)
				}
			}
		})
	}
}

func TestDigestListUnsubscribeMailbox(t *testing.T) {
	tests := []struct {
		mailbox string
		want    string
	}{
		{"", "<https://news.example.com/unsubscribe/u1token>, <mailto:unsubscribe@example.com?subject=unsubscribe>"},
		{"leave@lists.example.com", "<https://news.example.com/unsubscribe/u1token>, <mailto:leave@lists.example.com?subject=unsubscribe>"},
		{"-", "<https://news.example.com/unsubscribe/u1token>"},
	}
	for _, tt := range tests {
		cfg := testDigestConfig()
		cfg.UnsubscribeMailbox = tt.mailbox
		raw, err := newTestDigest(t, sampleEdition(t), cfg).Message(testRecipient(1))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := readMessage(t, raw)
		if got := msg.Header.Get("List-Unsubscribe"); got != tt.want {
			t.Errorf("mailbox %q: List-Unsubscribe = %q, want %q", tt.mailbox, got, tt.want)
		}
	}
	cfg := testDigestConfig()
	cfg.UnsubscribeMailbox = "x@example.com?subject=evil"
	if _, err := NewDigest(digestComposer(t), testMails(t), sampleEdition(t), cfg); err == nil {
		t.Errorf("a mailbox with a query was accepted")
	}
}

func TestPhraseAndListID(t *testing.T) {
	tests := []struct {
		title, want string
	}{
		{"Daily Brief", "Daily Brief <daily-brief.example.com>"},
		{"The \"Times\", daily", `"The \"Times\", daily" <the-times-daily.example.com>`},
		{"Café Brief", "=?UTF-8?q?Caf=C3=A9_Brief?= <caf-brief.example.com>"},
		{"日報", "=?UTF-8?q?=E6=97=A5=E5=A0=B1?= <list.example.com>"},
		{"", "<list.example.com>"}, // no title: no phrase, the id alone
	}
	for _, tt := range tests {
		if got := listID(tt.title, "example.com"); got != tt.want {
			t.Errorf("listID(%q) = %q, want %q", tt.title, got, tt.want)
		}
		h := mail.Header{"List-Id": {listID(tt.title, "example.com")}}
		if got := decodedHeader(t, h, "List-Id"); !strings.HasPrefix(strings.Trim(got, `"`), strings.SplitN(tt.title, `"`, 2)[0]) {
			t.Errorf("List-Id %q decodes to %q", h.Get("List-Id"), got)
		}
	}
}

// testDKIM returns a signer for example.com with a key of each kind named
// ("ed25519", "rsa", or "rsa+ed25519" for both), under the selectors
// "brief" (the first) and "brief2".
func testDKIM(tb testing.TB, kind string) *DKIM {
	tb.Helper()
	var keys []DKIMKey
	for i, kind := range strings.Split(kind, "+") {
		var key crypto.Signer
		switch kind {
		case "ed25519":
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				tb.Fatal(err)
			}
			key = priv
		case "rsa":
			priv, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				tb.Fatal(err)
			}
			key = priv
		default:
			tb.Fatalf("no key kind %q", kind)
		}
		sel := "brief"
		if i > 0 {
			sel = fmt.Sprintf("brief%d", i+1)
		}
		keys = append(keys, DKIMKey{Signer: key, Selector: sel})
	}
	k, err := NewDKIM("example.com", keys...)
	if err != nil {
		tb.Fatalf("NewDKIM: %v", err)
	}
	return k
}

func TestDigestRefusesChangedPersonalValues(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, templates.EditionTextFile), []byte("Sent to {{upper .Email}}.\nLeave: {{.UnsubscribeURL}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mails, err := templates.NewEditionMail(templates.EditionMailOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDigest(digestComposer(t), mails, sampleEdition(t), testDigestConfig())
	if err == nil || !strings.Contains(err.Error(), "personal value") {
		t.Fatalf("err = %v, want one saying a personal value was changed", err)
	}
}
