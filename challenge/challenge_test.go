package challenge

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func newIssuer(t *testing.T, now *time.Time) *Issuer {
	t.Helper()
	i, err := New([]byte("0123456789abcdef-key"), Options{MaxNumber: 5000, TTL: time.Minute, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func TestSolvedChallengeVerifies(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	i := newIssuer(t, &now)
	c := i.New()
	if c.Algorithm != "SHA-256" || c.MaxNumber != 5000 || c.Signature == "" {
		t.Fatalf("challenge = %+v", c)
	}
	p, err := Solve(c)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := i.Verify(p)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if sol.ID != c.Signature || !sol.Expires.Equal(now.Add(time.Minute).Truncate(time.Second)) {
		t.Fatalf("solution = %+v", sol)
	}
	now = now.Add(time.Minute)
	if _, err := i.Verify(p); !errors.Is(err, ErrExpired) {
		t.Fatalf("after its TTL: %v, want ErrExpired", err)
	}
}

func TestWrongOrForgedPayloadsAreRefused(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	i := newIssuer(t, &now)
	c := i.New()
	good, _ := Solve(c)
	var p payload
	raw, _ := base64.StdEncoding.DecodeString(good)
	_ = json.Unmarshal(raw, &p)
	enc := func(p payload) string {
		b, _ := json.Marshal(p)
		return base64.StdEncoding.EncodeToString(b)
	}
	wrongNumber := p
	wrongNumber.Number++
	laterExpiry := p // the expiry is in the salt: changing it breaks the puzzle
	laterExpiry.Salt = p.Salt[:24] + "?expires=9999999999"
	other, _ := New([]byte("another key of 16+ bytes"), Options{MaxNumber: 5000, Now: func() time.Time { return now }})
	foreign, _ := Solve(other.New())
	for name, tc := range map[string]struct {
		payload string
		want    error
	}{
		"wrong number":    {enc(wrongNumber), ErrWrong},
		"later expiry":    {enc(laterExpiry), ErrWrong},
		"another key":     {foreign, ErrWrong},
		"not base64":      {"%%%", ErrMalformed},
		"not JSON":        {base64.StdEncoding.EncodeToString([]byte("nope")), ErrMalformed},
		"other algorithm": {enc(payload{Algorithm: "SHA-1", Challenge: p.Challenge, Salt: p.Salt, Signature: p.Signature}), ErrMalformed},
		"empty":           {"", ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := i.Verify(tc.payload); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestShortKeyRefused(t *testing.T) {
	if _, err := New([]byte("short"), Options{}); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
}
