package mailer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// dkimHeaders are the fields a DKIM signature covers. Fields a message
// lacks (Content-Transfer-Encoding of a multipart message, Reply-To and Cc
// when there are none) are signed as absent, and the fields named twice
// are "oversigned": a copy added in transit — a second List-Unsubscribe, a
// Reply-To or Cc a relay slips in — breaks the signature rather than
// riding on it.
var dkimHeaders = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Archive", "List-Help",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"From", "Reply-To", "To", "Cc", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// DKIM signs messages for a domain (RFC 6376) with one or more keys — RSA
// and Ed25519 side by side (RFC 8463), each under its own selector: a
// receiver checks the kinds it knows. Headers and body are canonicalised
// "relaxed", so a relay that re-folds a header or re-wraps white space
// does not break the signatures. It is safe for concurrent use.
type DKIM struct {
	domain string
	keys   []dkim.SignOptions
}

// DKIMKey is one signing key and the selector its public half is
// published under (SELECTOR._domainkey.DOMAIN).
type DKIMKey struct {
	Signer   crypto.Signer
	Selector string
}

// NewDKIM returns a signer for domain with keys, each an *rsa.PrivateKey
// of at least 1024 bits (2048 advised) or an ed25519.PrivateKey, under
// selectors of their own.
func NewDKIM(domain string, keys ...DKIMKey) (*DKIM, error) {
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if !isDNSName(domain) || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("mailer: DKIM domain %q is not a domain name", domain)
	}
	if len(keys) == 0 {
		return nil, errors.New("mailer: DKIM: no key")
	}
	k := &DKIM{domain: domain}
	seen := map[string]bool{}
	for _, key := range keys {
		if !isDNSName(key.Selector) {
			return nil, fmt.Errorf("mailer: DKIM selector %q is not a DNS label (letters, digits, hyphens, dots)", key.Selector)
		}
		if seen[strings.ToLower(key.Selector)] {
			return nil, fmt.Errorf("mailer: DKIM selector %q is given to two keys; each key needs its own", key.Selector)
		}
		seen[strings.ToLower(key.Selector)] = true
		switch sk := key.Signer.(type) {
		case *rsa.PrivateKey:
			if sk.N.BitLen() < 1024 {
				return nil, fmt.Errorf("mailer: DKIM key has %d bits; receivers ignore RSA keys under 1024 bits (use 2048)", sk.N.BitLen())
			}
		case ed25519.PrivateKey:
		default:
			return nil, fmt.Errorf("mailer: DKIM key is a %T; want RSA or Ed25519", key.Signer)
		}
		k.keys = append(k.keys, dkim.SignOptions{
			Domain: domain, Selector: key.Selector, Signer: key.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             dkimHeaders,
		})
	}
	return k, nil
}

// LoadDKIM reads the PEM private keys of keyFiles (comma-separated; a file
// may hold several keys, one PEM block each: PKCS #8 "PRIVATE KEY", RSA
// or Ed25519, or PKCS #1 "RSA PRIVATE KEY", as `openssl genpkey` and
// `openssl genrsa` write them) and returns a signer for domain, the keys
// taking the comma-separated selectors in order. Errors never quote a key.
func LoadDKIM(keyFiles, domain, selectors string) (*DKIM, error) {
	var signers []crypto.Signer
	for file := range strings.SplitSeq(keyFiles, ",") {
		file = strings.TrimSpace(file)
		if file == "" {
			continue
		}
		keys, err := readKeys(file)
		if err != nil {
			return nil, err
		}
		signers = append(signers, keys...)
	}
	var names []string
	for sel := range strings.SplitSeq(selectors, ",") {
		if sel = strings.TrimSpace(sel); sel != "" {
			names = append(names, sel)
		}
	}
	if len(names) != len(signers) {
		return nil, fmt.Errorf("mailer: DKIM: %d keys but %d selectors; give one selector per key, in the same order (e.g. rsa2026,ed2026)", len(signers), len(names))
	}
	keys := make([]DKIMKey, len(signers))
	for i := range signers {
		keys[i] = DKIMKey{Signer: signers[i], Selector: names[i]}
	}
	return NewDKIM(domain, keys...)
}

// readKeys reads every PEM private key in file.
func readKeys(file string) ([]crypto.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("mailer: DKIM key: %w", err)
	}
	var keys []crypto.Signer
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		var key any
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			err = fmt.Errorf("a %q block, want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("mailer: DKIM key %s: %w", file, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("mailer: DKIM key %s: a %T cannot sign", file, key)
		}
		keys = append(keys, signer)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("mailer: DKIM key %s holds no PEM block", file)
	}
	return keys, nil
}

// Domain returns the signing domain (d=).
func (k *DKIM) Domain() string { return k.domain }

// Selectors returns the keys' selectors (s=), in order.
func (k *DKIM) Selectors() []string {
	out := make([]string, len(k.keys))
	for i, o := range k.keys {
		out[i] = o.Selector
	}
	return out
}

// OnlyEd25519 reports whether every key is Ed25519: many receivers do not
// check those yet (RFC 8463 is from 2018), so such mail counts as
// unsigned there; add an RSA key beside it.
func (k *DKIM) OnlyEd25519() bool {
	for _, o := range k.keys {
		if _, ok := o.Signer.(ed25519.PrivateKey); !ok {
			return false
		}
	}
	return true
}

// DNSRecords returns, for each selector, the TXT record to publish at
// SELECTOR._domainkey.DOMAIN for receivers to verify the signatures.
func (k *DKIM) DNSRecords() (map[string]string, error) {
	out := make(map[string]string, len(k.keys))
	for _, o := range k.keys {
		switch pub := o.Signer.Public().(type) {
		case *rsa.PublicKey:
			der, err := x509.MarshalPKIXPublicKey(pub)
			if err != nil {
				return nil, fmt.Errorf("mailer: DKIM public key: %w", err)
			}
			out[o.Selector] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		case ed25519.PublicKey:
			out[o.Selector] = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
		default:
			return nil, errors.New("mailer: DKIM key of an unknown kind")
		}
	}
	return out, nil
}

// Sign returns the DKIM-Signature fields (each with its CRLF), one per
// key, to put before msg, a whole message with CRLF line endings.
func (k *DKIM) Sign(msg []byte) ([]byte, error) {
	var out []byte
	for i := range k.keys {
		s, err := dkim.NewSigner(&k.keys[i])
		if err != nil {
			return nil, fmt.Errorf("%w: DKIM: %w", ErrInvalidMessage, err)
		}
		if _, err := s.Write(msg); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("%w: DKIM: %w", ErrInvalidMessage, err)
		}
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("%w: DKIM: %w", ErrInvalidMessage, err)
		}
		out = append(out, s.Signature()...)
	}
	return out, nil
}

// isDNSName reports whether s is dot-separated labels of letters, digits
// and inner hyphens (underscores allowed, as selectors use them).
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
