package digest

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"

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

// MaxLocalPartLength is the longest local part (before the @) accepted, in
// bytes (RFC 5321, 4.5.3.1.1).
const MaxLocalPartLength = 64

// ErrBadEmail is matched (errors.Is) by NormalizeEmail's errors.
var ErrBadEmail = errors.New("not a valid email address")

// BadEmailError is an address refused, with the reason in words a person
// can act on: "not-an-email" has no @.
type BadEmailError struct{ Reason string }

func (e *BadEmailError) Error() string { return e.Reason }

// Is makes a BadEmailError match ErrBadEmail.
func (e *BadEmailError) Is(target error) bool { return target == ErrBadEmail }

func badEmail(format string, args ...any) error {
	return &BadEmailError{Reason: fmt.Sprintf(format, args...)}
}

// NormalizeEmail checks an address as typed and returns its normalised form
// (trimmed, NFC, lower-cased). It accepts a bare address only: no display
// name, no control or format character, at most 254 bytes with a local part
// of at most 64, a domain with a dot. A refusal says what is wrong.
func NormalizeEmail(s string) (string, error) {
	// NFC: "é" typed as one character or as e and a combining accent is
	// one address, one subscriber.
	s = norm.NFC.String(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", badEmail("the address is empty")
	case len(s) > MaxEmailLength:
		return "", badEmail("the address is longer than %d bytes", MaxEmailLength)
	case strings.ContainsAny(s, "\r\n\x00"):
		return "", badEmail("the address contains a line break or NUL")
	case strings.ContainsFunc(s, IsHiddenRune):
		return "", badEmail("%q contains a control, format or bidi-override character", s)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", badEmail("%q %s", s, whyNotAnAddress(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at > MaxLocalPartLength {
		return "", badEmail("the part before the @ is longer than %d bytes", MaxLocalPartLength)
	}
	domain := s[at+1:]
	switch {
	case strings.HasPrefix(domain, "["):
		return "", badEmail("%q has an IP address for a domain: give a domain name", s)
	case !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, "."):
		return "", badEmail("%q has no dot inside its domain %q", s, domain)
	}
	return strings.ToLower(s), nil
}

// whyNotAnAddress says, as the end of a sentence, why s does not read as
// one bare address.
func whyNotAnAddress(s string) string {
	at := strings.LastIndexByte(s, '@')
	switch {
	case strings.ContainsAny(s, "<>"):
		return "has a name or angle brackets: give the bare address, like ann@example.com"
	case at < 0:
		return "has no @"
	case strings.ContainsAny(s, " \t"):
		return "contains a space"
	case strings.ContainsAny(s, ",;"):
		return "holds more than one address: give one"
	case strings.Count(s, "@") > 1 && !strings.Contains(s, `"`):
		return "has more than one @"
	case at == 0:
		return "has nothing before the @"
	case at == len(s)-1:
		return "has nothing after the @"
	case strings.HasPrefix(s, ".") || strings.Contains(s, "..") || s[at-1] == '.':
		return "has a dot at the start or end of its name part, or two in a row"
	}
	return "is not an address like ann@example.com"
}

// IsHiddenRune reports whether r is a character that has no place in a
// name or an address typed by a reader: a control character (C0, C1, DEL),
// a line or paragraph separator (U+2028, U+2029), or a format character
// (category Cf: the bidi overrides and isolates U+202A–U+202E and
// U+2066–U+2069, soft hyphen, zero-width space…) — except the zero-width
// joiner and non-joiner (U+200D, U+200C), which emoji and scripts such as
// Persian need.
func IsHiddenRune(r rune) bool {
	switch {
	case r == 0x200c || r == 0x200d:
		return false
	case unicode.IsControl(r), r == 0x2028, r == 0x2029, unicode.Is(unicode.Cf, r):
		return true
	}
	return false
}

// MailboxKey is the mailbox an address delivers to, as far as can be told
// from its spelling: the normalised address without its subaddress
// ("+tag"), and for gmail.com and googlemail.com without dots in the local
// part and with gmail.com as the domain. Limits that count mails to a
// mailbox (one confirmation a day) key on it; the address itself is kept
// as typed. email must already be normalised (NormalizeEmail).
func MailboxKey(email string) string {
	at := strings.LastIndexByte(email, '@')
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `at <= 0` differs only for an address with nothing before the @, which NormalizeEmail refuses.
	if at < 0 {
		return email
	}
	local, domain := email[:at], email[at+1:]
	if plus := strings.IndexByte(local, '+'); plus > 0 {
		local = local[:plus]
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		local, domain = strings.ReplaceAll(local, ".", ""), "gmail.com"
	}
	return local + "@" + domain
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
