package subscription

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

// signedTag signs an arbitrary payload as SignTag would, to test what
// VerifyTag makes of payloads SignTag never writes.
func signedTag(s *Signer, purpose TagPurpose, payload []byte) string {
	k := s.keys[0]
	return tagEncoding.EncodeToString(append(payload, tagMAC(k.secret, purpose, payload)...))
}

// tagPayload is a tag's payload with the given numbers, each a minimal
// uvarint.
func tagPayload(s *Signer, field, late, id uint64) []byte {
	p := []byte{s.keys[0].id}
	p = binary.AppendUvarint(p, field)
	p = binary.AppendUvarint(p, late)
	return binary.AppendUvarint(p, id)
}

// TestTagBounds: the smallest tag SignTag writes and the largest
// subscriber, day and lateness allowed verify; one more of each, a
// subscriber 0 and trailing bytes do not, even correctly signed; SignTag
// writes nothing for a subscriber 0.
func TestTagBounds(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "tag-bounds-secret-0123")
	smallest := Tag{Subscriber: 1, Day: tagEpoch, Sent: tagEpoch}
	tag := s.SignTag(TagBounce, smallest)
	if raw, err := tagEncoding.DecodeString(tag); err != nil || len(raw) != 1+1+1+1+tagMACSize {
		t.Fatalf("the smallest tag is %d bytes (%v)", len(raw), err)
	}
	if got, err := s.VerifyTag(TagBounce, tag); err != nil || got != smallest {
		t.Errorf("the smallest tag: %+v %v", got, err)
	}
	if got := s.SignTag(TagBounce, Tag{Subscriber: 0, Day: tagEpoch}); got != "" {
		t.Errorf("subscriber 0 signed as %q", got)
	}
	if got := s.SignTag(TagBounce, Tag{Subscriber: -1, Day: tagEpoch}); got != "" {
		t.Errorf("subscriber -1 signed as %q", got)
	}

	ok := map[string]struct {
		payload []byte
		want    Tag
	}{
		"largest subscriber": {tagPayload(s, 2, 0, 1<<62), Tag{Subscriber: 1 << 62, Day: tagEpoch.AddDate(0, 0, 1), Sent: tagEpoch.AddDate(0, 0, 1)}},
		"latest day": {tagPayload(s, 1<<21-1, 0, 5), Tag{Subscriber: 5, Day: tagEpoch.AddDate(0, 0, 1<<20-1), Confirmation: true,
			Sent: tagEpoch.AddDate(0, 0, 1<<20-1)}},
		"latest sending": {tagPayload(s, 0, 1<<20-1, 5), Tag{Subscriber: 5, Day: tagEpoch, Sent: tagEpoch.AddDate(0, 0, 1<<20-1)}},
		// A 40-character tag (25 bytes): numbers in longer spellings than
		// SignTag writes, still the numbers they spell.
		"40 characters": {append([]byte{s.keys[0].id, 0x82, 0x80, 0x00, 0x80, 0x80, 0x00},
			0x87, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), Tag{Subscriber: 7, Day: tagEpoch.AddDate(0, 0, 1), Sent: tagEpoch.AddDate(0, 0, 1)}},
	}
	for name, c := range ok {
		tag := signedTag(s, TagUnsubscribe, c.payload)
		got, err := s.VerifyTag(TagUnsubscribe, tag)
		if err != nil || got != c.want {
			t.Errorf("%s (%d characters): %+v %v, want %+v", name, len(tag), got, err, c.want)
		}
	}
	if tag := signedTag(s, TagUnsubscribe, ok["40 characters"].payload); len(tag) != maxTagLen {
		t.Fatalf("the longest tag is %d characters, want %d", len(tag), maxTagLen)
	}

	bad := map[string][]byte{
		"subscriber 0":          tagPayload(s, 2, 0, 0),
		"subscriber past 2^62":  tagPayload(s, 2, 0, 1<<62+1),
		"day past 2^20":         tagPayload(s, 1<<21, 0, 5),
		"sent 2^20 days late":   tagPayload(s, 2, 1<<20, 5),
		"trailing bytes":        append(tagPayload(s, 2, 0, 5), 0),
		"no subscriber":         {s.keys[0].id, 2, 0},
		"no lateness":           {s.keys[0].id, 2},
		"no day":                {s.keys[0].id},
		"day runs to the end":   {s.keys[0].id, 0x80, 0x80},
		"late runs to the end":  {s.keys[0].id, 2, 0x80, 0x80},
		"subscriber runs to it": {s.keys[0].id, 2, 0, 0x80},
	}
	for name, payload := range bad {
		if got, err := s.VerifyTag(TagUnsubscribe, signedTag(s, TagUnsubscribe, payload)); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: verified as %+v (%v)", name, got, err)
		}
	}
}

// TestTagDayAndLateness: a tag carries its day and how many whole days
// later the mail went out; a mail "sent" before its day counts as sent on
// its day.
func TestTagDayAndLateness(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "tag-days-secret-0123456")
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	at := day.Add(5 * time.Hour) // the day is the date of this instant
	for _, c := range []struct {
		sent, want time.Time
	}{
		{at.Add(23 * time.Hour), day},
		{at.Add(25 * time.Hour), day.AddDate(0, 0, 1)},
		{at.AddDate(0, 0, 40).Add(time.Hour), day.AddDate(0, 0, 40)},
		{at.Add(-time.Hour), day},
	} {
		got, err := s.VerifyTag(TagBounce, s.SignTag(TagBounce, Tag{Subscriber: 9, Day: at, Sent: c.sent}))
		if err != nil || !got.Day.Equal(day) || !got.Sent.Equal(c.want) {
			t.Errorf("sent %v: day %v sent %v (%v), want day %v sent %v", c.sent, got.Day, got.Sent, err, day, c.want)
		}
	}
	if got := s.SignTag(TagBounce, Tag{Subscriber: 9, Day: tagEpoch.Add(-time.Hour)}); got != "" {
		t.Errorf("a day before 2020 signed as %q", got)
	}
}

// TestTagAnyLetterCase: every letter of a tag may come back in upper case
// (a mail system may change the case of an address's local part).
func TestTagAnyLetterCase(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "tag-case-secret-0123456")
	var withA, withZ bool
	for id := int64(1); id < 2000 && !(withA && withZ); id++ {
		tag := s.SignTag(TagUnsubscribe, Tag{Subscriber: id, Day: tagEpoch})
		if !strings.ContainsAny(tag, "az") {
			continue
		}
		withA, withZ = withA || strings.Contains(tag, "a"), withZ || strings.Contains(tag, "z")
		got, err := s.VerifyTag(TagUnsubscribe, strings.ToUpper(tag))
		if err != nil || got.Subscriber != id {
			t.Fatalf("%q: %+v %v, want subscriber %d", strings.ToUpper(tag), got, err, id)
		}
	}
	if !withA || !withZ {
		t.Fatal("no tag with an a and one with a z were found")
	}
}

// TestShortTagsRefusedWithoutPanic: a tag of 8 characters or more that
// decodes to fewer bytes than the smallest tag is refused before anything
// reads past its end — whatever its bytes, even with the right key id.
func TestShortTagsRefusedWithoutPanic(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "short-tag-secret-0123456")
	for n := 1; n < 1+1+1+1+tagMACSize; n++ {
		raw := make([]byte, n)
		for range 20 {
			rand.Read(raw)
			raw[0] = s.keys[0].id
			tag := tagEncoding.EncodeToString(raw)
			if _, err := s.VerifyTag(TagBounce, tag); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("a %d-byte tag %q: %v", n, tag, err)
			}
		}
	}
	for _, short := range []string{"a", "aaaaaaa", strings.Repeat("a", maxTagLen+1)} {
		if _, err := s.VerifyTag(TagBounce, short); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%q: %v", short, err)
		}
	}
}
