package mailer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"
)

var testNow = time.Date(2026, 11, 27, 6, 0, 0, 0, time.FixedZone("CET", 3600))

func testComposer(t *testing.T) *Composer {
	t.Helper()
	c, err := NewComposer("Daily Brief <news@example.com>", func() time.Time { return testNow })
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

// render writes msg as it goes on the wire.
func render(t *testing.T, msg *gomail.Msg) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return buf.Bytes()
}

// composeAndParse composes m and reads it back with net/mail.
func composeAndParse(t *testing.T, c *Composer, m Message) (*mail.Message, []byte) {
	t.Helper()
	msg, err := c.Compose(m)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	raw := render(t, msg)
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	return parsed, raw
}

func decodeHeader(t *testing.T, h mail.Header, name string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(h.Get(name))
	if err != nil {
		t.Fatalf("decode %s %q: %v", name, h.Get(name), err)
	}
	return v
}

func TestComposeHeaders(t *testing.T) {
	c := testComposer(t)
	parsed, raw := composeAndParse(t, c, Message{
		To:      "reader@example.org",
		ToName:  "Zoë Reader",
		Subject: "Café — ünïcode",
		Text:    "Hello",
		Headers: map[string]string{
			"List-Unsubscribe":      "<https://news.example.com/unsubscribe?t=abc>, <mailto:unsubscribe@example.com?subject=abc>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id":               "Café Brief <daily.news.example.com>",
		},
	})
	h := parsed.Header

	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Daily Brief" || from[0].Address != "news@example.com" {
		t.Errorf("From = %v (%v), want Daily Brief <news@example.com>", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Zoë Reader" || to[0].Address != "reader@example.org" {
		t.Errorf("To = %v (%v), want Zoë Reader <reader@example.org>", to, err)
	}
	if got, want := decodeHeader(t, h, "Subject"), "Café — ünïcode"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if raw := h.Get("Subject"); !isASCII(raw) {
		t.Errorf("raw Subject %q is not ASCII: not encoded", raw)
	}
	date, err := h.Date()
	if err != nil || !date.Equal(testNow) {
		t.Errorf("Date = %v (%v), want %v", date, err, testNow)
	}
	if got, want := h.Get("MIME-Version"), "1.0"; got != want {
		t.Errorf("MIME-Version = %q, want %q", got, want)
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < len("<x@example.com>")+10 {
		t.Errorf("Message-ID = %q, want <random@example.com>", id)
	}
	if got, want := h.Get("List-Unsubscribe"), "<https://news.example.com/unsubscribe?t=abc>, <mailto:unsubscribe@example.com?subject=abc>"; got != want {
		t.Errorf("List-Unsubscribe = %q, want %q", got, want)
	}
	if got, want := h.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"; got != want {
		t.Errorf("List-Unsubscribe-Post = %q, want %q", got, want)
	}
	// The list's id stays outside the encoded name, where filters read it.
	if got := h.Get("List-Id"); !strings.HasSuffix(got, " Brief <daily.news.example.com>") || !isASCII(got) {
		t.Errorf("raw List-Id = %q, want an encoded name then Brief <daily.news.example.com>", got)
	}
	if got, want := decodeHeader(t, h, "List-Id"), "Café Brief <daily.news.example.com>"; got != want {
		t.Errorf("List-Id = %q, want %q", got, want)
	}
	for _, name := range []string{"X-Mailer", "User-Agent"} {
		if v, ok := h[name]; ok {
			t.Errorf("%s: %v present, want none", name, v)
		}
	}
	if bytes.Contains(raw, []byte("go-mail")) {
		t.Errorf("message mentions go-mail:\n%s", raw)
	}
}

func TestComposeMessageIDsDiffer(t *testing.T) {
	c := testComposer(t)
	m := Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"}
	first, _ := composeAndParse(t, c, m)
	second, _ := composeAndParse(t, c, m)
	if a, b := first.Header.Get("Message-ID"), second.Header.Get("Message-ID"); a == b {
		t.Errorf("two messages share Message-ID %s", a)
	}
}

// Both forms of the sender's address give a Message-ID at its domain.
func TestComposeMessageIDDomain(t *testing.T) {
	for _, from := range []string{"news@mail.example.net", "Brief <news@mail.example.net>"} {
		c, err := NewComposer(from, nil)
		if err != nil {
			t.Fatalf("NewComposer(%q): %v", from, err)
		}
		parsed, _ := composeAndParse(t, c, Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"})
		if id := parsed.Header.Get("Message-ID"); !strings.HasSuffix(id, "@mail.example.net>") {
			t.Errorf("from %q: Message-ID = %q, want it at mail.example.net", from, id)
		}
	}
}

func TestComposeAlternative(t *testing.T) {
	text := "Café — ünïcode\nSecond line"
	html := "<p>Café — ünïcode</p>"
	parsed, _ := composeAndParse(t, testComposer(t), Message{To: "reader@example.org", Subject: "Hi", Text: text, HTML: html})

	mediaType, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", parsed.Header.Get("Content-Type"), err)
	}
	parts := readParts(t, parsed.Body, params["boundary"])
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2", len(parts))
	}
	for i, want := range []struct{ mediaType, body string }{{"text/plain", text}, {"text/html", html}} {
		mediaType, params, err := mime.ParseMediaType(parts[i].contentType)
		if err != nil || mediaType != want.mediaType || !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("part %d: Content-Type = %q (%v), want %s; charset=UTF-8", i, parts[i].contentType, err, want.mediaType)
		}
		if got := parts[i].body; got != want.body {
			t.Errorf("part %d: body = %q, want %q", i, got, want.body)
		}
	}
}

type part struct{ contentType, body string }

// readParts reads a multipart body; mime/multipart undoes the
// quoted-printable encoding. Line ends come back as LF.
func readParts(t *testing.T, body io.Reader, boundary string) []part {
	t.Helper()
	r := multipart.NewReader(body, boundary)
	var parts []part
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		parts = append(parts, part{p.Header.Get("Content-Type"), strings.ReplaceAll(string(b), "\r\n", "\n")})
	}
}

func TestComposeTextOnly(t *testing.T) {
	text := "Café — ünïcode\nSecond line\n"
	parsed, _ := composeAndParse(t, testComposer(t), Message{To: "reader@example.org", Subject: "Hi", Text: text})
	mediaType, params, err := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	if err != nil || mediaType != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		t.Fatalf("Content-Type = %q (%v), want text/plain; charset=UTF-8", parsed.Header.Get("Content-Type"), err)
	}
	if got, want := parsed.Header.Get("Content-Transfer-Encoding"), "quoted-printable"; got != want {
		t.Fatalf("Content-Transfer-Encoding = %q, want %q", got, want)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); got != text {
		t.Errorf("body = %q, want %q", got, text)
	}
}

// No line of the message passes RFC 5322's 998 octets, whatever the
// length of a paragraph, a subject or a header value.
func TestComposeLineLength(t *testing.T) {
	paragraph := strings.Repeat("All the news that fits, and then some more. ", 115)[:5000]
	unbroken := strings.Repeat("x", 5000)
	m := Message{
		To:      "reader@example.org",
		ToName:  strings.Repeat("Reader ", 200),
		Subject: strings.Repeat("Café — ünïcode ", 100),
		Text:    paragraph + "\n\n" + unbroken,
		HTML:    "<p>" + paragraph + "</p><p>" + unbroken + "</p>",
		Headers: map[string]string{"List-Id": strings.Repeat("Brief ", 300) + "<daily.example.com>"},
	}
	parsed, raw := composeAndParse(t, testComposer(t), m)
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) > maxLineLength {
			t.Fatalf("line %d is %d octets long: %.60q…", n, len(sc.Bytes()), sc.Bytes())
		}
	}
	if got, want := decodeHeader(t, parsed.Header, "Subject"), m.Subject; got != want {
		t.Errorf("folded Subject = %q, want %q", got, want)
	}
	_, params, _ := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	parts := readParts(t, parsed.Body, params["boundary"])
	if len(parts) != 2 || parts[0].body != m.Text || parts[1].body != m.HTML {
		t.Errorf("bodies changed on the way: %d parts", len(parts))
	}
}

func TestComposeRefuses(t *testing.T) {
	ok := Message{To: "reader@example.org", Subject: "Hi", Text: "Hello"}
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"CR in subject", func(m *Message) { m.Subject = "Hi\rBcc: victim@example.com" }},
		{"LF in subject", func(m *Message) { m.Subject = "Hi\nBcc: victim@example.com" }},
		{"CRLF in To", func(m *Message) { m.To = "reader@example.org\r\nBcc: victim@example.com" }},
		{"LF in ToName", func(m *Message) { m.ToName = "Reader\nBcc: victim@example.com" }},
		{"LF in header name", func(m *Message) { m.Headers = map[string]string{"X-A\nBcc": "v"} }},
		{"CR in header value", func(m *Message) { m.Headers = map[string]string{"List-Id": "a\rBcc: victim@example.com"} }},
		{"colon in header name", func(m *Message) { m.Headers = map[string]string{"X-A:": "v"} }},
		{"space in header name", func(m *Message) { m.Headers = map[string]string{"X A": "v"} }},
		{"empty header name", func(m *Message) { m.Headers = map[string]string{"": "v"} }},
		{"header Compose writes", func(m *Message) { m.Headers = map[string]string{"bcc": "victim@example.com"} }},
		{"Content- header", func(m *Message) { m.Headers = map[string]string{"Content-Type": "text/html"} }},
		{"header twice", func(m *Message) { m.Headers = map[string]string{"List-Id": "a", "list-id": "b"} }},
		{"word too long for a line", func(m *Message) { m.Headers = map[string]string{"X-Long": strings.Repeat("x", 1000)} }},
		{"To with a name", func(m *Message) { m.To = "Reader <reader@example.org>" }},
		{"To not an address", func(m *Message) { m.To = "reader" }},
		{"no To", func(m *Message) { m.To = "" }},
		{"no text", func(m *Message) { m.Text = "" }},
	}
	c := testComposer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.change(&m)
			msg, err := c.Compose(m)
			if err == nil {
				t.Fatalf("Compose succeeded, want an error:\n%s", render(t, msg))
			}
			if !errors.Is(err, ErrInvalidMessage) || !strings.HasPrefix(err.Error(), "mailer: ") {
				t.Errorf("error %q: want a mailer: error wrapping ErrInvalidMessage", err)
			}
		})
	}
}

func TestNewComposer(t *testing.T) {
	tests := []struct {
		from        string
		wantName    string
		wantAddress string
	}{
		{"news@example.com", "", "news@example.com"},
		{"Daily Brief <news@example.com>", "Daily Brief", "news@example.com"},
		{`"Brief, Daily" <news@example.com>`, "Brief, Daily", "news@example.com"},
		{"Café Brief <news@example.com>", "Café Brief", "news@example.com"},
	}
	for _, tt := range tests {
		c, err := NewComposer(tt.from, nil)
		if err != nil {
			t.Errorf("NewComposer(%q): %v", tt.from, err)
			continue
		}
		if got := c.From(); got.Name != tt.wantName || got.Address != tt.wantAddress {
			t.Errorf("NewComposer(%q).From() = %q <%s>, want %q <%s>", tt.from, got.Name, got.Address, tt.wantName, tt.wantAddress)
		}
	}

	for _, from := range []string{"", "news", "news@", "Daily Brief", "news@example.com\r\nBcc: x@example.com", "nouvelles@exemple.café"} {
		_, err := NewComposer(from, nil)
		if err == nil || !strings.Contains(err.Error(), "BROADSHEET_FROM") {
			t.Errorf("NewComposer(%q) = %v, want an error naming BROADSHEET_FROM", from, err)
		}
	}
}
