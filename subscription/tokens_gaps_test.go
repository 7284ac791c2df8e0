package subscription

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// signedToken signs an arbitrary payload as Sign would, to test what
// Verify makes of payloads Sign never writes.
func signedToken(s *Signer, payload []byte) string {
	k := s.keys[0]
	return base64.RawURLEncoding.EncodeToString(append(payload, mac(k.secret, payload)...))
}

// TestShortTokensRefusedWithoutPanic: a token decoding to fewer bytes than
// the smallest token (purpose, key id, one-byte id and time, MAC) is
// refused before anything reads past its end — whatever its bytes.
func TestShortTokensRefusedWithoutPanic(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "short-token-secret-0123")
	for n := range 2 + 2 + macSize {
		raw := make([]byte, n)
		for range 20 {
			rand.Read(raw)
			if n > 1 {
				raw[1] = s.keys[0].id // reach the MAC check with the right key
			}
			tok := base64.RawURLEncoding.EncodeToString(raw)
			if _, _, err := s.Verify(PurposeConfirm, tok); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("a %d-byte token: %v", n, err)
			}
		}
	}
}

// TestTokenFieldBounds: the smallest token Sign writes (20 bytes) and the
// largest id and time allowed verify; one more, id 0, a missing time and
// trailing bytes do not, even correctly signed.
func TestTokenFieldBounds(t *testing.T) {
	t.Parallel()
	s := mustSigner(t, "bounds-token-secret-0123")
	small := s.Sign(PurposeConfirm, 1, time.Unix(100, 0))
	if raw, _ := base64.RawURLEncoding.DecodeString(small); len(raw) != 2+2+macSize {
		t.Fatalf("the smallest token is %d bytes", len(raw))
	}
	ok := map[string]struct {
		tok    string
		id     int64
		issued int64
	}{
		"smallest":    {small, 1, 100},
		"largest id":  {s.Sign(PurposeConfirm, 1<<62, time.Unix(5, 0)), 1 << 62, 5},
		"latest time": {s.Sign(PurposeConfirm, 9, time.Unix(1<<40, 0)), 9, 1 << 40},
	}
	for name, c := range ok {
		id, issued, err := s.Verify(PurposeConfirm, c.tok)
		if err != nil || id != c.id || issued.Unix() != c.issued {
			t.Errorf("%s: %d %v %v", name, id, issued, err)
		}
	}
	payload := func(id, issued uint64, extra ...byte) []byte {
		p := []byte{byte(PurposeConfirm), s.keys[0].id}
		p = binary.AppendUvarint(p, id)
		p = binary.AppendUvarint(p, issued)
		return append(p, extra...)
	}
	bad := map[string]string{
		"id 0":           s.Sign(PurposeConfirm, 0, time.Unix(5, 0)),
		"id past 2^62":   s.Sign(PurposeConfirm, 1<<62+1, time.Unix(5, 0)),
		"time past 2^40": s.Sign(PurposeConfirm, 9, time.Unix(1<<40+1, 0)),
		// A two-byte id and nothing after it: no time at all.
		"no time":        signedToken(s, binary.AppendUvarint([]byte{byte(PurposeConfirm), s.keys[0].id}, 300)),
		"trailing bytes": signedToken(s, payload(7, 100, 0)),
		"id overflows":   signedToken(s, append([]byte{byte(PurposeConfirm), s.keys[0].id}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 5)),
	}
	for name, tok := range bad {
		if id, _, err := s.Verify(PurposeConfirm, tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: verified as id %d (%v)", name, id, err)
		}
	}
}
