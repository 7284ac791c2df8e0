package mailer

import (
	"crypto/rand"
	"fmt"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// charset is the charset of every part and encoded header word; it is
// go-mail's default, named here for the header encoding done before
// go-mail sees the value.
const charset = string(gomail.CharsetUTF8)

// Composer turns Messages into go-mail messages from one sender. It is safe
// for concurrent use.
type Composer struct {
	from   mail.Address
	domain string // of from: the right-hand side of every Message-ID
	now    func() time.Time
}

// NewComposer returns a Composer sending from from, "Daily Brief
// <news@example.com>" or a bare address. now is the clock that dates
// messages (time.Now when nil).
func NewComposer(from string, now func() time.Time) (*Composer, error) {
	if now == nil {
		now = time.Now
	}
	const want = `want news@example.com or "Daily Brief <news@example.com>"`
	if hasLineBreak(from) {
		return nil, fmt.Errorf("mailer: BROADSHEET_FROM contains a line break (%s)", want)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: BROADSHEET_FROM %q is not an email address (%s): %w", from, want, err)
	}
	if !isASCII(addr.Address) {
		// Non-ASCII addresses need SMTPUTF8 from every server on the way,
		// and a Message-ID's domain must be ASCII.
		return nil, fmt.Errorf("mailer: BROADSHEET_FROM %q: the address must be ASCII (write an international domain in its xn-- form)", from)
	}
	domain := addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	return &Composer{from: *addr, domain: domain, now: now}, nil
}

// From returns the sender, a copy the caller may change.
func (c *Composer) From() *mail.Address {
	from := c.from
	return &from
}

// Compose builds m as a go-mail message: From, To, Subject (RFC 2047
// encoded when not ASCII), Date (from the clock), a Message-ID at the
// sender's domain, the extra headers, MIME-Version, and the text part,
// followed by the HTML part in a multipart/alternative when there is one.
// No User-Agent or X-Mailer is written. Bodies are quoted-printable, so no
// line exceeds 76 octets however long a paragraph is. An error wraps
// ErrInvalidMessage.
func (c *Composer) Compose(m Message) (*gomail.Msg, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("mailer: compose message to %q: %w", m.To, err)
	}
	// m.To was checked to be a bare address, so it needs no parsing again.
	to := &mail.Address{Name: m.ToName, Address: m.To}
	subject := mime.QEncoding.Encode(charset, m.Subject)
	if !foldable(to.String()) {
		return nil, fmt.Errorf("mailer: compose message to %q: %w", m.To, invalid("the recipient's name is too long for a header line"))
	}
	if !foldable(subject) {
		return nil, fmt.Errorf("mailer: compose message to %q: %w", m.To, invalid("the subject has a word too long for a header line"))
	}

	// go-mail adds "User-Agent: go-mail …" and "X-Mailer: go-mail …" to
	// every message unless told not to.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	from := c.from
	msg.FromMailAddress(&from)
	if m.EnvelopeFrom != "" {
		msg.EnvelopeFromMailAddress(&mail.Address{Address: m.EnvelopeFrom})
	}
	msg.ToMailAddress(to)
	// Already encoded: go-mail's own encoding leaves ASCII alone.
	msg.Subject(subject)
	msg.SetDateWithValue(c.now())
	msg.SetMessageIDWithValue(rand.Text() + "@" + c.domain)

	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		value := encodeHeaderValue(m.Headers[name])
		if !foldable(value) {
			return nil, fmt.Errorf("mailer: compose message to %q: %w", m.To, invalid("header %s has a word too long for a header line", name))
		}
		msg.SetGenHeader(gomail.Header(name), value)
	}

	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// encodeHeaderValue returns v as it may stand in a header: unchanged when
// it is ASCII, else with each run of words holding non-ASCII characters
// made an RFC 2047 encoded-word. Encoding word runs rather than the whole
// value (as go-mail would) keeps the machine-read parts of structured
// fields, such as List-Id's <daily.example.com>, outside the encoding.
func encodeHeaderValue(v string) string {
	if isASCII(v) {
		return v
	}
	words := strings.Split(v, " ")
	out := make([]string, 0, len(words))
	for i := 0; i < len(words); {
		if isASCII(words[i]) {
			out = append(out, words[i])
			i++
			continue
		}
		j := i + 1
		for j < len(words) && !isASCII(words[j]) {
			j++
		}
		out = append(out, mime.QEncoding.Encode(charset, strings.Join(words[i:j], " ")))
		i = j
	}
	return strings.Join(out, " ")
}

// foldable reports whether go-mail can fold a header holding value into
// lines of at most 998 octets. It folds at spaces only, so each word must
// fit on a continuation line after its leading space.
func foldable(value string) bool {
	for word := range strings.SplitSeq(value, " ") {
		if 1+len(word) > maxLineLength {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
