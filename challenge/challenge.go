// Package challenge makes and checks proof-of-work challenges in the
// format of ALTCHA (https://altcha.org), whose widget solves them in the
// reader's browser: find the number n ≤ maxnumber for which
// SHA-256(salt + n) is the challenge; the challenge is signed with
// HMAC-SHA256 so the server keeps nothing until a solution is used. The
// salt carries an expiry ("…?expires=UNIX"), which the signature covers.
// Using a solution only once is the caller's part (Solution.ID names it).
package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only hash offered and accepted.
const Algorithm = "SHA-256"

// Challenge is what the widget gets (as JSON: its challengejson attribute,
// or the body of a 429).
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Solution is a checked payload.
type Solution struct {
	// ID names the challenge (its signature): a solution may be used once.
	ID string
	// Expires is when the challenge stops being accepted.
	Expires time.Time
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("challenge: the proof of work is not a valid payload")
	ErrExpired   = errors.New("challenge: the proof of work has expired")
	ErrWrong     = errors.New("challenge: the proof of work does not solve its challenge")
)

// Issuer makes and checks challenges with one key.
type Issuer struct {
	key       []byte
	ttl       time.Duration
	maxNumber int64
	now       func() time.Time
}

// Options configure an Issuer.
type Options struct {
	// TTL is how long a challenge is accepted (default 5 minutes).
	TTL time.Duration
	// MaxNumber bounds the secret number, i.e. the work: a browser hashes
	// about half of it on average (default 100,000: well under a second).
	MaxNumber int64
	Now       func() time.Time
}

// New returns an Issuer signing with key (at least 16 bytes).
func New(key []byte, opts Options) (*Issuer, error) {
	if len(key) < 16 {
		return nil, errors.New("challenge: the key must be at least 16 bytes")
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.MaxNumber <= 0 {
		opts.MaxNumber = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Issuer{key: key, ttl: opts.TTL, maxNumber: opts.MaxNumber, now: opts.Now}, nil
}

// New makes a challenge.
func (i *Issuer) New() Challenge {
	salt := make([]byte, 12)
	_, _ = rand.Read(salt)
	n, _ := rand.Int(rand.Reader, big.NewInt(i.maxNumber+1))
	s := hex.EncodeToString(salt) + "?expires=" + strconv.FormatInt(i.now().Add(i.ttl).Unix(), 10)
	c := hashHex(s + n.String())
	return Challenge{Algorithm: Algorithm, Challenge: c, MaxNumber: i.maxNumber, Salt: s, Signature: i.sign(c)}
}

// payload is what the widget sends back, base64-encoded JSON.
type payload struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    int64  `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Verify checks a widget's payload: signed by this issuer, not expired, and
// solved. It does not know whether the payload was used before.
func (i *Issuer) Verify(encoded string) (Solution, error) {
	if len(encoded) > 4096 {
		return Solution{}, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return Solution{}, ErrMalformed
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil || p.Algorithm != Algorithm || p.Number < 0 || p.Challenge == "" {
		return Solution{}, ErrMalformed
	}
	if !hmac.Equal([]byte(i.sign(p.Challenge)), []byte(strings.ToLower(p.Signature))) {
		return Solution{}, ErrWrong
	}
	_, query, _ := strings.Cut(p.Salt, "?")
	params, _ := url.ParseQuery(query)
	unix, err := strconv.ParseInt(params.Get("expires"), 10, 64)
	if err != nil {
		return Solution{}, ErrMalformed
	}
	expires := time.Unix(unix, 0)
	if !i.now().Before(expires) {
		return Solution{}, ErrExpired
	}
	if subtle.ConstantTimeCompare([]byte(hashHex(p.Salt+strconv.FormatInt(p.Number, 10))), []byte(strings.ToLower(p.Challenge))) != 1 {
		return Solution{}, ErrWrong
	}
	return Solution{ID: p.Signature, Expires: expires}, nil
}

func (i *Issuer) sign(challenge string) string {
	m := hmac.New(sha256.New, i.key)
	m.Write([]byte(strings.ToLower(challenge)))
	return hex.EncodeToString(m.Sum(nil))
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Solve finds the number of c by brute force, as the widget does, and
// returns the payload to send back. It is for tests and command-line
// clients; it fails when c is not solvable within its maxnumber.
func Solve(c Challenge) (string, error) {
	for n := int64(0); n <= c.MaxNumber; n++ {
		if hashHex(c.Salt+strconv.FormatInt(n, 10)) == c.Challenge {
			b, _ := json.Marshal(payload{Algorithm: c.Algorithm, Challenge: c.Challenge, Number: n, Salt: c.Salt, Signature: c.Signature})
			return base64.StdEncoding.EncodeToString(b), nil
		}
	}
	return "", fmt.Errorf("challenge: no solution up to %d", c.MaxNumber)
}
