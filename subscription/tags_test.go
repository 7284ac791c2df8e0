package subscription

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTagRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "first-secret-0123456789")
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, want := range []Tag{
		{Subscriber: 1, Day: day, Sent: day},
		{Subscriber: 123456789, Day: day, Confirmation: true, Sent: day},
		{Subscriber: 1 << 40, Day: tagEpoch, Sent: day},
	} {
		for _, p := range []TagPurpose{TagBounce, TagUnsubscribe} {
			tag := s.SignTag(p, Tag{Subscriber: want.Subscriber, Day: want.Day, Confirmation: want.Confirmation, Sent: want.Sent.Add(13 * time.Hour)})
			if tag != strings.ToLower(tag) || len(tag) > maxTagLen || strings.ContainsAny(tag, "+=-_") {
				t.Errorf("tag %q is not short lower-case base32", tag)
			}
			for _, spelled := range []string{tag, strings.ToUpper(tag)} {
				got, err := s.VerifyTag(p, spelled)
				if err != nil || got != want {
					t.Errorf("%c %q: got %+v %v, want %+v", p, spelled, got, err, want)
				}
			}
		}
	}
	if got := (Tag{Subscriber: 1, Day: day}).Edition(); got != "2026-11-27" {
		t.Errorf("edition %q", got)
	}
	if got := (Tag{Subscriber: 1, Day: day, Confirmation: true}).Edition(); got != "" {
		t.Errorf("a confirmation's edition %q", got)
	}
	// A mail sent before its day (zero Sent) counts as sent on its day.
	if got, _ := s.VerifyTag(TagBounce, s.SignTag(TagBounce, Tag{Subscriber: 1, Day: day})); !got.Sent.Equal(day) {
		t.Errorf("sent %v", got.Sent)
	}
	// A day for each subscriber in 2026 fits in 24 characters.
	if tag := s.SignTag(TagBounce, Tag{Subscriber: 1 << 20, Day: day, Sent: day}); len(tag) > 24 {
		t.Errorf("tag %q is %d characters", tag, len(tag))
	}
}

func TestTagRefusals(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "first-secret-0123456789")
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tag := s.SignTag(TagBounce, Tag{Subscriber: 42, Day: day})
	other := mustSigner(t, "another-secret-0123456789")
	altered := []byte(tag)
	altered[3] = map[bool]byte{true: 'b', false: 'a'}[altered[3] == 'a']
	tests := map[string]struct {
		purpose TagPurpose
		tag     string
		signer  *Signer
	}{
		"other purpose": {TagUnsubscribe, tag, s},
		"altered":       {TagBounce, string(altered), s},
		"truncated":     {TagBounce, tag[:len(tag)-2], s},
		"extended":      {TagBounce, tag + "a", s},
		"empty":         {TagBounce, "", s},
		"not base32":    {TagBounce, "0189!!!!0189", s},
		"other secret":  {TagBounce, tag, other},
		"too long":      {TagBounce, strings.Repeat("a", 41), s},
		"link token":    {TagBounce, s.Sign(PurposeUnsubscribe, 42, day), s},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := tt.signer.VerifyTag(tt.purpose, tt.tag); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("got %v, want ErrInvalidToken", err)
			}
		})
	}
	if got := s.SignTag(TagBounce, Tag{Subscriber: 1, Day: day.AddDate(-10, 0, 0)}); got != "" {
		t.Errorf("a day before 2020 signed as %q", got)
	}
	// Rotation: a tag signed with the old secret still verifies.
	rotated := mustSigner(t, "another-secret-0123456789", "first-secret-0123456789")
	if _, err := rotated.VerifyTag(TagBounce, tag); err != nil {
		t.Errorf("rotated: %v", err)
	}
}
