package subscription

import (
	"crypto/hmac"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// Tags are the short signed strings in return paths (VERP:
// bounces+TAG@news.example.com) and in the per-subscriber mailto:
// unsubscribe address. They name a subscriber and the mail they were sent
// — an edition's day, or a confirmation mail and the day it went out — and
// carry a 64-bit HMAC bound to the tag's purpose, so a report can only be
// about the subscriber it names, and a bounce tag never passes for an
// unsubscribe one. They are written in lower-case base32: relays may fold
// the case of a local part, and a tag must survive it.

// TagPurpose says which address a tag is for.
type TagPurpose byte

// The tag purposes.
const (
	TagBounce      TagPurpose = 'b' // the envelope sender: DSNs, ARF reports
	TagUnsubscribe TagPurpose = 'u' // List-Unsubscribe's mailto:
)

// Tag is what a tag names.
type Tag struct {
	Subscriber int64
	// Day is the edition's day, or for a confirmation mail the day it was
	// sent (UTC).
	Day time.Time
	// Confirmation: the tag was in a confirmation mail, not an edition.
	Confirmation bool
	// Sent is the day the mail was sent (UTC), on or after Day: an old
	// edition may be sent late.
	Sent time.Time
}

// Edition returns the edition the tag was sent with ("" for a
// confirmation mail).
func (t Tag) Edition() string {
	if t.Confirmation {
		return ""
	}
	return t.Day.Format("2006-01-02")
}

// tagEpoch is day 0 of a tag's day count.
var tagEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	tagMACSize = 8  // 64 bits: a forger gets one guess per report sent
	maxTagLen  = 40 // base32 of at most 1+3+3+9+8 bytes
)

var tagEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// SignTag returns the tag of t for purpose. A day before 2020 or a
// non-positive subscriber gives "".
func (s *Signer) SignTag(purpose TagPurpose, t Tag) string {
	day := t.Day.UTC().Sub(tagEpoch).Hours() / 24
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `day > 1<<20`. Sub
	// saturates at about 106,751 days (292 years), so day never comes near
	// 1<<20.
	if t.Subscriber <= 0 || day < 0 || day >= 1<<20 {
		return ""
	}
	late := uint64(0)
	// Equivalent mutants (CONDITIONALS_BOUNDARY): `d >= 0` makes late 0
	// from d 0, as it is already; `d <= 1<<20` cannot matter, as Sub
	// saturates at about 106,751 days.
	if d := t.Sent.UTC().Sub(t.Day.UTC()).Hours() / 24; d > 0 && d < 1<<20 {
		late = uint64(d)
	}
	k := s.keys[0]
	field := uint64(day) << 1
	if t.Confirmation {
		field |= 1
	}
	payload := []byte{k.id}
	payload = binary.AppendUvarint(payload, field)
	payload = binary.AppendUvarint(payload, late)
	payload = binary.AppendUvarint(payload, uint64(t.Subscriber))
	return tagEncoding.EncodeToString(append(payload, tagMAC(k.secret, purpose, payload)...))
}

// VerifyTag checks tag for purpose, in any letter case, and returns what
// it names. Every failure is ErrInvalidToken.
func (s *Signer) VerifyTag(purpose TagPurpose, tag string) (Tag, error) {
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `len(tag) <= 8`. Eight
	// characters decode to 5 bytes, which the size check below refuses.
	if len(tag) > maxTagLen || len(tag) < 8 {
		return Tag{}, ErrInvalidToken
	}
	b := []byte(tag)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	raw, err := tagEncoding.DecodeString(string(b))
	// Equivalent mutants (ARITHMETIC_BASE): a `-` for any of the first
	// three `+` lets 10 and 11 bytes past this check, whose 2 or 3 bytes of
	// payload cannot hold the three numbers: the checks below refuse them.
	if err != nil || len(raw) < 1+1+1+1+tagMACSize || tagEncoding.EncodeToString(raw) != string(b) {
		return Tag{}, ErrInvalidToken
	}
	payload, sig := raw[:len(raw)-tagMACSize], raw[len(raw)-tagMACSize:]
	valid := false
	for _, k := range s.keys {
		if k.id == payload[0] && hmac.Equal(sig, tagMAC(k.secret, purpose, payload)) {
			valid = true
		}
	}
	if !valid {
		return Tag{}, ErrInvalidToken
	}
	field, n := binary.Uvarint(payload[1:])
	// Equivalent mutants (CONDITIONALS_BOUNDARY): `n < 0` here, `l < 0`
	// and `m < 0` below. A count of 0 means the number ran to the
	// payload's end, so the next one reads nothing (count 0 too) and the
	// last check refuses it: no subscriber (id 0) or a length that does not
	// add up.
	if n <= 0 {
		return Tag{}, ErrInvalidToken
	}
	late, l := binary.Uvarint(payload[1+n:])
	if l <= 0 {
		return Tag{}, ErrInvalidToken
	}
	id, m := binary.Uvarint(payload[1+n+l:])
	if m <= 0 || 1+n+l+m != len(payload) || id == 0 || id > 1<<62 || field >= 1<<21 || late >= 1<<20 {
		return Tag{}, ErrInvalidToken
	}
	day := tagEpoch.AddDate(0, 0, int(field>>1))
	return Tag{Subscriber: int64(id), Day: day, Confirmation: field&1 == 1, Sent: day.AddDate(0, 0, int(late))}, nil
}

func tagMAC(secret []byte, purpose TagPurpose, payload []byte) []byte {
	// "tag" keeps these MACs apart from the links' (tokens.go), which are
	// made with the same secrets.
	in := append([]byte{'t', 'a', 'g', byte(purpose)}, payload...)
	return mac(secret, in)[:tagMACSize]
}
