// Package subscription holds the subscriber use cases — subscribe with
// double opt-in, confirm, unsubscribe, preferences, admin changes, import
// and export — and the signed tokens in the links subscribers get.
package subscription

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Purpose says what a token may be used for: a token of one purpose never
// passes for another.
type Purpose byte

// The token purposes.
const (
	PurposeConfirm     Purpose = 'c'
	PurposeUnsubscribe Purpose = 'u'
	PurposePreferences Purpose = 'p'
)

// ErrInvalidToken is the one error for a token that is malformed, forged,
// signed with an unknown key or meant for another purpose: callers answer
// all of them alike (404), so a token reveals nothing.
var ErrInvalidToken = errors.New("subscription: invalid link")

// macSize is the length of the truncated HMAC-SHA256 in a token (128 bits).
const macSize = 16

// MinSecretLength is the shortest secret accepted, in bytes.
const MinSecretLength = 16

type signingKey struct {
	id     byte
	secret []byte
}

// Signer signs and verifies tokens: HMAC-SHA256 over the purpose, the key
// id, the subscriber id and the issue time, base64url-encoded.
type Signer struct {
	keys []signingKey // the first signs; all verify (rotation)
}

// NewSigner returns a Signer over secrets: the first signs, every one
// verifies, so a new secret can be put first while links signed with the
// old one keep working.
func NewSigner(secrets []string) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("subscription: no signing secret")
	}
	s := &Signer{}
	for i, secret := range secrets {
		secret = strings.TrimSpace(secret)
		if len(secret) < MinSecretLength {
			return nil, fmt.Errorf("subscription: secret %d is shorter than %d bytes", i+1, MinSecretLength)
		}
		sum := sha256.Sum256([]byte(secret))
		s.keys = append(s.keys, signingKey{id: sum[0], secret: []byte(secret)})
	}
	return s, nil
}

// Sign returns a token for purpose and subscriber id, issued at issued.
func (s *Signer) Sign(purpose Purpose, id int64, issued time.Time) string {
	k := s.keys[0]
	payload := []byte{byte(purpose), k.id}
	payload = binary.AppendUvarint(payload, uint64(id))
	payload = binary.AppendUvarint(payload, uint64(issued.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(payload, mac(k.secret, payload)...))
}

// Verify checks token for purpose and returns the subscriber id and the
// issue time. Every failure is ErrInvalidToken.
func (s *Signer) Verify(purpose Purpose, token string) (int64, time.Time, error) {
	// A cheap bound before decoding: Sign writes at most 51 characters
	// (38 bytes).
	if len(token) > 64 { // Equivalent mutant (CONDITIONALS_BOUNDARY): >= refuses a 64-character token, which every later check refuses too.
		return 0, time.Time{}, ErrInvalidToken
	}
	// Only the spelling Sign writes: the decoder would also take line
	// breaks and stray trailing bits.
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 2+2+macSize || base64.RawURLEncoding.EncodeToString(raw) != token {
		return 0, time.Time{}, ErrInvalidToken
	}
	payload, sig := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	valid := false
	for _, k := range s.keys {
		// Compare with every key of that id, in constant time.
		if k.id == payload[1] && hmac.Equal(sig, mac(k.secret, payload)) {
			valid = true
		}
	}
	if !valid || Purpose(payload[0]) != purpose {
		return 0, time.Time{}, ErrInvalidToken
	}
	id, n := binary.Uvarint(payload[2:])
	if n <= 0 { // Equivalent mutant (CONDITIONALS_BOUNDARY): with n < 0, n == 0 (the id runs to the payload's end) leaves no time to read, and m <= 0 below refuses it.
		return 0, time.Time{}, ErrInvalidToken
	}
	issued, m := binary.Uvarint(payload[2+n:])
	if m <= 0 || 2+n+m != len(payload) || id == 0 || id > 1<<62 || issued > 1<<40 {
		return 0, time.Time{}, ErrInvalidToken
	}
	return int64(id), time.Unix(int64(issued), 0).UTC(), nil
}

func mac(secret, payload []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(payload)
	return h.Sum(nil)[:macSize]
}
