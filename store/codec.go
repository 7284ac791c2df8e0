package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Subscribers are kept as packed binary records — small enough that a
// bucket of them stays a listpack-encoded hash (see README.md) — in two
// parts: the hot record read when mailing (status, format, email, name)
// and the cold consent record read only when a subscriber is shown.

const recordVersion = 1

// statusCode is the byte a status is kept as.
func statusCode(st digest.SubscriberStatus) byte {
	switch st {
	case digest.Active:
		return 'a'
	case digest.Unsubscribed:
		return 'u'
	case digest.Bounced:
		return 'b'
	case digest.Complained:
		return 'c'
	}
	return 'p'
}

var errBadRecord = errors.New("store: corrupt subscriber record")

func encodeHot(s *digest.Subscriber) []byte {
	b := make([]byte, 0, 8+len(s.Email)+len(s.Name))
	format := byte('h')
	if s.Format == digest.FormatText {
		format = 't'
	}
	b = append(b, recordVersion, statusCode(s.Status), format)
	b = appendTime(b, s.ConfirmSentAt)
	b = appendString(b, s.Email)
	b = appendString(b, s.Name)
	return b
}

func decodeHot(id int64, b []byte, s *digest.Subscriber) error {
	if len(b) < 3 || b[0] != recordVersion { // Equivalent mutant (CONDITIONALS_BOUNDARY): a 3-byte record (header only) is refused by the reader below anyway.
		return fmt.Errorf("%w %d", errBadRecord, id)
	}
	s.ID = id
	s.Status = statusOf(b[1])
	s.Format = digest.FormatHTML
	if b[2] == 't' {
		s.Format = digest.FormatText
	}
	r := reader{b: b[3:]}
	s.ConfirmSentAt = r.time()
	s.Email = r.string()
	s.Name = r.string()
	if r.err {
		return fmt.Errorf("%w %d", errBadRecord, id)
	}
	return nil
}

func statusOf(c byte) digest.SubscriberStatus {
	for _, st := range digest.Statuses {
		if statusCode(st) == c {
			return st
		}
	}
	return digest.Pending
}

// encodeConsent packs a consent record small enough for a listpack (≈ 45
// bytes for a form subscription): IPs as 4 or 16 bytes, the user agent as
// the 8-byte id of its entry in the agents dictionary (see agentID).
func encodeConsent(c *digest.Consent) []byte {
	b := make([]byte, 0, 64)
	b = append(b, recordVersion)
	b = appendEnum(b, c.Source, consentSources())
	b = appendIP(b, c.IP, "")
	b = appendString(b, agentID(c.UserAgent))
	b = appendString(b, c.Text)
	b = appendIP(b, c.ConfirmIP, c.IP)
	b = appendEnum(b, c.LeftHow, leaveReasons())
	for _, t := range []time.Time{c.SubscribedAt, c.ConfirmedAt, c.LeftAt} {
		b = appendTime(b, t)
	}
	return b
}

// The values of Consent.Source and Consent.LeftHow kept as one byte. Add
// at the end only: the byte is the index.
func consentSources() []string { return []string{"form", "import", "admin"} }
func leaveReasons() []string {
	return []string{"one-click", "link", "preferences", "admin", "bounce", "complaint", "mailto"}
}

// decodeConsent unpacks a consent record into c and returns the id of its
// user agent ("" if none), which the caller looks up in the dictionary.
func decodeConsent(id int64, b []byte, c *digest.Consent) (string, error) {
	if len(b) == 0 {
		return "", nil // a subscriber written without one
	}
	if b[0] != recordVersion {
		return "", fmt.Errorf("%w %d (consent)", errBadRecord, id)
	}
	r := reader{b: b[1:]}
	c.Source = r.enum(consentSources())
	c.IP = r.ip("")
	agent := r.string()
	c.Text = r.string()
	c.ConfirmIP = r.ip(c.IP)
	c.LeftHow = r.enum(leaveReasons())
	for _, p := range []*time.Time{&c.SubscribedAt, &c.ConfirmedAt, &c.LeftAt} {
		*p = r.time()
	}
	if r.err {
		return "", fmt.Errorf("%w %d (consent)", errBadRecord, id)
	}
	return agent, nil
}

// agentID names a user agent in the agents dictionary: the first 8 bytes
// of its SHA-256. Thousands of subscribers share a few hundred agents.
func agentID(ua string) string {
	if ua == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(ua))
	return string(sum[:8])
}

// IPs are a kind byte — 0 none, 1 the same as the record's first IP, 4
// IPv4, 6 IPv6, 's' anything else as a string — then the address.
func appendIP(b []byte, s, same string) []byte {
	switch {
	case s == "":
		return append(b, 0)
	case s == same:
		return append(b, 1)
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err == nil && a.Is4():
		return append(append(b, 4), a.AsSlice()...)
	case err == nil && a.Is6() && a.Zone() == "" && a.String() == s:
		return append(append(b, 6), a.AsSlice()...)
	}
	return appendString(append(b, 's'), s)
}

// An enum is a byte: 0 for "", i+1 for known[i], 255 then a string for
// anything else.
func appendEnum(b []byte, s string, known []string) []byte {
	if s == "" {
		return append(b, 0)
	}
	for i, k := range known {
		if s == k {
			return append(b, byte(i+1))
		}
	}
	return appendString(append(b, 255), s)
}

func (r *reader) enum(known []string) string {
	if len(r.b) == 0 {
		r.err = true
		return ""
	}
	k := r.b[0]
	r.b = r.b[1:]
	switch {
	case k == 0:
		return ""
	case k == 255:
		return r.string()
	case int(k) <= len(known):
		return known[k-1]
	}
	r.err = true
	return ""
}

func (r *reader) ip(same string) string {
	if len(r.b) == 0 {
		r.err = true
		return ""
	}
	kind := r.b[0]
	r.b = r.b[1:]
	var n int
	switch kind {
	case 0:
		return ""
	case 1:
		return same
	case 's':
		return r.string()
	case 4:
		n = 4
	case 6:
		n = 16
	}
	if n == 0 || len(r.b) < n { // Equivalent mutant (CONDITIONALS_BOUNDARY): an address is never a record's last field, so a record cut right after one fails at the next read.
		r.err = true
		return ""
	}
	a, _ := netip.AddrFromSlice(r.b[:n])
	r.b = r.b[n:]
	return a.String()
}

// Times are whole seconds since 2020-01-01 UTC (four bytes until 2028,
// five after), zero for the zero time.
const timeEpoch = 1577836800 // 2020-01-01T00:00:00Z

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendUvarint(b, 0)
	}
	return binary.AppendUvarint(b, uint64(max(t.Unix()-timeEpoch, 1)))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) time() time.Time {
	v := r.uvarint()
	if v == 0 || r.err {
		return time.Time{}
	}
	return time.Unix(int64(v)+timeEpoch, 0).UTC()
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
