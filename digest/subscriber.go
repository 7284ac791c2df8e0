package digest

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// SubscriberStatus is where a subscriber stands.
type SubscriberStatus string

// The subscriber statuses.
const (
	Pending      SubscriberStatus = "pending"      // subscribed, not yet confirmed
	Active       SubscriberStatus = "active"       // confirmed: gets the editions
	Unsubscribed SubscriberStatus = "unsubscribed" // left
	Bounced      SubscriberStatus = "bounced"      // the address does not exist
	Complained   SubscriberStatus = "complained"   // marked a mail as spam
)

// Statuses lists every status, in the order counts are printed.
var Statuses = []SubscriberStatus{Active, Pending, Unsubscribed, Bounced, Complained}

// Valid reports whether s is a known status.
func (s SubscriberStatus) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// MailFormat is how a subscriber wants the editions.
type MailFormat string

// The mail formats.
const (
	FormatHTML MailFormat = "html" // HTML with a text alternative
	FormatText MailFormat = "text" // text only
)

// Valid reports whether f is a known format.
func (f MailFormat) Valid() bool { return f == FormatHTML || f == FormatText }

// Subscriber is one address on the list.
type Subscriber struct {
	ID     int64
	Email  string // normalised: trimmed, lower-cased
	Name   string
	Status SubscriberStatus
	Format MailFormat
	// ConfirmSentAt is when the last confirmation mail went out (zero:
	// never); at most one goes out per day.
	ConfirmSentAt time.Time
	Consent       Consent
}

// Consent is the record of how a subscriber joined and left.
type Consent struct {
	Source       string // "form", "import" or "admin"
	SubscribedAt time.Time
	IP           string
	UserAgent    string
	Text         string // the version of the consent text shown, e.g. "2026-11"
	ConfirmedAt  time.Time
	ConfirmIP    string
	LeftAt       time.Time
	LeftHow      string // "one-click", "link", "preferences", "admin", "bounce", "complaint", "mailto"
}

// MaxEmailLength is the longest address accepted, in bytes (RFC 5321's path
// limit less the angle brackets).
const MaxEmailLength = 254

// ErrBadEmail is wrapped by NormalizeEmail's errors.
var ErrBadEmail = errors.New("not a valid email address")

// NormalizeEmail checks an address as typed and returns its normalised form
// (trimmed, lower-cased). It accepts a bare address only: no display name,
// no CR, LF or NUL, at most 254 bytes, a domain with a dot.
func NormalizeEmail(s string) (string, error) {
	// NFC: "é" typed as one character or as e and a combining accent is
	// one address, one subscriber.
	s = norm.NFC.String(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", fmt.Errorf("%w: it is empty", ErrBadEmail)
	case len(s) > MaxEmailLength:
		return "", fmt.Errorf("%w: it is longer than %d bytes", ErrBadEmail, MaxEmailLength)
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", fmt.Errorf("%w: it contains a line break or NUL", ErrBadEmail)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", fmt.Errorf("%w: %q", ErrBadEmail, s)
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") ||
		strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("%w: the domain %q has no dot", ErrBadEmail, domain)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: it contains a control character", ErrBadEmail)
		}
	}
	return strings.ToLower(s), nil
}

// ErrSuppressed says an address was erased at its owner's request and may
// not be added again by an import or an admin.
var ErrSuppressed = errors.New("the address was erased at its owner's request and may not be re-added")

// ErrUnchanged may be returned by a subscriber update function to leave the
// subscriber as it is.
var ErrUnchanged = errors.New("unchanged")

// AddOutcome says what adding one subscriber did.
type AddOutcome int

// The outcomes of adding a subscriber.
const (
	Added        AddOutcome = iota // a new subscriber
	AlreadyKnown                   // the address was already on the list: unchanged
	Suppressed                     // the address was erased: not re-added
)
