package subscription

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustSigner(t *testing.T, secrets ...string) *Signer {
	t.Helper()
	s, err := NewSigner(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "first-secret-0123456789")
	issued := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, p := range []Purpose{PurposeConfirm, PurposeUnsubscribe, PurposePreferences} {
		tok := s.Sign(p, 123456789, issued)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not base64url without padding", tok)
		}
		id, at, err := s.Verify(p, tok)
		if err != nil || id != 123456789 || !at.Equal(issued) {
			t.Errorf("purpose %c: got %d %v %v", p, id, at, err)
		}
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "first-secret-0123456789")
	tok := s.Sign(PurposeConfirm, 42, time.Now())
	flip := []byte(tok)
	flip[len(flip)-5] ^= 1
	other := mustSigner(t, "another-secret-0123456789")
	tests := map[string]struct {
		purpose Purpose
		token   string
		signer  *Signer
	}{
		"other purpose":     {PurposeUnsubscribe, tok, s},
		"flipped bit":       {PurposeConfirm, string(flip), s},
		"truncated":         {PurposeConfirm, tok[:len(tok)-3], s},
		"empty":             {PurposeConfirm, "", s},
		"not base64":        {PurposeConfirm, "!!!!", s},
		"other secret":      {PurposeConfirm, tok, other},
		"too long":          {PurposeConfirm, strings.Repeat("A", 65), s},
		"unsubscribe token": {PurposeConfirm, s.Sign(PurposeUnsubscribe, 42, time.Now()), s},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := tt.signer.Verify(tt.purpose, tt.token); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("got %v, want ErrInvalidToken", err)
			}
		})
	}
}

// TestTokenRotation: a new secret put first signs; tokens of the old one
// still verify while it is listed, and stop when it is removed.
func TestTokenRotation(t *testing.T) {
	t.Parallel()
	old := mustSigner(t, "old-secret-0123456789")
	tok := old.Sign(PurposeUnsubscribe, 7, time.Now())
	rotated := mustSigner(t, "new-secret-0123456789", "old-secret-0123456789")
	if id, _, err := rotated.Verify(PurposeUnsubscribe, tok); err != nil || id != 7 {
		t.Errorf("old token after rotation: %d %v", id, err)
	}
	fresh := rotated.Sign(PurposeUnsubscribe, 7, time.Now())
	if _, _, err := old.Verify(PurposeUnsubscribe, fresh); !errors.Is(err, ErrInvalidToken) {
		t.Error("a token of the new secret verified with the old one alone")
	}
	dropped := mustSigner(t, "new-secret-0123456789")
	if _, _, err := dropped.Verify(PurposeUnsubscribe, tok); !errors.Is(err, ErrInvalidToken) {
		t.Error("a token of a removed secret still verifies")
	}
}

func TestNewSignerRefusesShortSecrets(t *testing.T) {
	t.Parallel()
	if _, err := NewSigner([]string{"short"}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := NewSigner(nil); err == nil {
		t.Error("no secret was accepted")
	}
	// The limit itself: exactly MinSecretLength bytes (after trimming) is
	// enough, one fewer is not, and the refusal names which secret.
	exact := strings.Repeat("k", MinSecretLength)
	if _, err := NewSigner([]string{" " + exact + "\n"}); err != nil {
		t.Errorf("a secret of exactly %d bytes: %v", MinSecretLength, err)
	}
	_, err := NewSigner([]string{exact, exact[1:]})
	want := fmt.Sprintf("secret 2 is shorter than %d bytes", MinSecretLength)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a second secret one byte short: %v, want %q", err, want)
	}
}

func FuzzVerify(f *testing.F) {
	s, _ := NewSigner([]string{"fuzz-secret-0123456789"})
	f.Add(s.Sign(PurposeConfirm, 1, time.Unix(1_800_000_000, 0)))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		id, issued, err := s.Verify(PurposeConfirm, tok)
		if err == nil && id <= 0 {
			t.Fatalf("accepted %q with id %d", tok, id)
		}
		// A token is accepted only as the signer itself writes it: no
		// second spelling of the same id and time gets through.
		if err == nil && s.Sign(PurposeConfirm, id, issued) != tok {
			t.Fatalf("accepted %q, which the signer writes %q", tok, s.Sign(PurposeConfirm, id, issued))
		}
	})
}
