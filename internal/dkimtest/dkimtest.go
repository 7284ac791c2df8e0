// Package dkimtest verifies DKIM signatures in tests the way a receiver
// does — with emersion/go-msgauth's verifier, an implementation other than
// the signer's code path — looking the public keys up in the signer's own
// records instead of DNS.
package dkimtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/broadsheet-news/broadsheet/mailer"
)

// Verify verifies every DKIM signature of msg and fails the test unless
// there is one per key of k and each verifies. It returns them.
func Verify(tb testing.TB, k *mailer.DKIM, msg []byte) []*dkim.Verification {
	tb.Helper()
	vs, err := verify(k, msg)
	if err != nil {
		tb.Fatalf("dkimtest: %v", err)
	}
	if len(vs) != len(k.Selectors()) {
		tb.Fatalf("dkimtest: %d signatures, want %d (one per key)", len(vs), len(k.Selectors()))
	}
	for _, v := range vs {
		if v.Err != nil {
			tb.Errorf("dkimtest: a signature of %s does not verify: %v\n%.600s", v.Domain, v.Err, msg)
		}
	}
	return vs
}

func verify(k *mailer.DKIM, msg []byte) ([]*dkim.Verification, error) {
	records, err := k.DNSRecords()
	if err != nil {
		return nil, err
	}
	lookup := func(name string) ([]string, error) {
		sel, ok := strings.CutSuffix(name, "._domainkey."+k.Domain())
		if r, found := records[sel]; ok && found {
			return []string{r}, nil
		}
		return nil, errors.New("no such record: " + name)
	}
	return dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
}

// TryVerify verifies msg's signatures, failing nothing: for tests that
// expect a signature to break.
func TryVerify(k *mailer.DKIM, msg []byte) ([]*dkim.Verification, error) { return verify(k, msg) }

// AnyValid reports whether one of vs verified.
func AnyValid(vs []*dkim.Verification) bool {
	for _, v := range vs {
		if v.Err == nil {
			return true
		}
	}
	return false
}
