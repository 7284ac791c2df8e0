package mailer

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one email to one recipient.
type Message struct {
	To      string // a bare address, already validated
	ToName  string // optional display name
	Subject string
	Text    string // the text/plain part (required)
	// HTML is optional; when set the message is multipart/alternative,
	// text first, then HTML.
	HTML string
	// Headers are extra header fields (List-Unsubscribe,
	// List-Unsubscribe-Post, List-Id …), written as given but for words
	// with non-ASCII characters, which are RFC 2047 encoded. Names and
	// values with CR or LF are refused, and so are the fields Compose
	// writes itself (From, To, Cc, Bcc, Subject, Date, Message-ID,
	// MIME-Version, Content-*).
	Headers map[string]string
	// EnvelopeFrom, when set, is the envelope sender (MAIL FROM) in place
	// of the From address: a return path that names the recipient (VERP).
	EnvelopeFrom string
}

// ErrInvalidMessage is wrapped by the error of every message Compose
// refuses: retrying such a message cannot succeed.
var ErrInvalidMessage = errors.New("invalid message")

// maxLineLength is RFC 5322's limit on a line, CRLF excluded.
const maxLineLength = 998

// validate checks what Compose cannot repair: the recipient, line breaks
// that would inject header fields, header names.
func (m Message) validate() error {
	if err := validateRecipient(m.To); err != nil {
		return err
	}
	if m.EnvelopeFrom != "" {
		if addr, err := mail.ParseAddress(m.EnvelopeFrom); err != nil || addr.Name != "" || addr.Address != m.EnvelopeFrom || !isASCII(m.EnvelopeFrom) {
			return invalid("the envelope sender %q is not a bare ASCII address", m.EnvelopeFrom)
		}
	}
	if hasLineBreak(m.ToName) {
		return invalid("the recipient's name contains a line break")
	}
	if hasLineBreak(m.Subject) {
		return invalid("the subject contains a line break")
	}
	if m.Text == "" {
		return invalid("the text part is empty")
	}
	seen := make(map[string]bool, len(m.Headers))
	for name, value := range m.Headers {
		if err := validateHeaderName(name); err != nil {
			return err
		}
		if hasLineBreak(value) {
			return invalid("header %s contains a line break", name)
		}
		lower := strings.ToLower(name)
		if seen[lower] {
			return invalid("header %s is given twice (names are case-insensitive)", name)
		}
		seen[lower] = true
	}
	return nil
}

func validateRecipient(to string) error {
	if to == "" {
		return invalid("no recipient")
	}
	if hasLineBreak(to) {
		return invalid("the recipient contains a line break")
	}
	addr, err := mail.ParseAddress(to)
	if err != nil || addr.Name != "" || addr.Address != to {
		return invalid("the recipient %q is not a bare email address", to)
	}
	return nil
}

// validateHeaderName checks a field name against RFC 5322 (printable
// ASCII but colon) and against the fields Compose owns.
func validateHeaderName(name string) error {
	if name == "" {
		return invalid("a header has an empty name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return invalid("header name %q has a character a header name cannot have", name)
		}
	}
	if len(name)+1 > maxLineLength {
		return invalid("header name %.20q… is longer than a line", name)
	}
	if composerOwns(name) {
		return invalid("header %s is written by the composer and cannot be given", name)
	}
	return nil
}

// composerOwns reports whether Compose writes the header itself, or it
// describes the MIME structure Compose builds.
func composerOwns(name string) bool {
	lower := strings.ToLower(name)
	switch lower {
	case "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version":
		return true
	}
	return strings.HasPrefix(lower, "content-")
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}
