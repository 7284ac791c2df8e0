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
// lacks (Content-Transfer-Encoding of a multipart message) are signed as
// absent, and the fields named twice are "oversigned": a copy added in
// transit — a second List-Unsubscribe, say — breaks the signature rather
// than riding on it.
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"From", "To", "Subject", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// DKIM signs messages for a domain (RFC 6376) with an RSA or Ed25519 key.
// Headers and body are canonicalised "simple": signed exactly as written,
// which also sidesteps go-mail's folding of a long h= tag under "relaxed".
// It is safe for concurrent use.
type DKIM struct {
	opts dkim.SignOptions
}

// NewDKIM returns a signer for domain's selector with key, which must be
// an *rsa.PrivateKey of at least 1024 bits (2048 advised) or an
// ed25519.PrivateKey.
func NewDKIM(key crypto.Signer, domain, selector string) (*DKIM, error) {
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if !isDNSName(domain) || !strings.Contains(domain, ".") {
		return nil, fmt.Errorf("mailer: DKIM domain %q is not a domain name", domain)
	}
	if !isDNSName(selector) {
		return nil, fmt.Errorf("mailer: DKIM selector %q is not a DNS label (letters, digits, hyphens, dots)", selector)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("mailer: DKIM key has %d bits; receivers ignore RSA keys under 1024 bits (use 2048)", k.N.BitLen())
		}
	case ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("mailer: DKIM key is a %T; want RSA or Ed25519", key)
	}
	return &DKIM{opts: dkim.SignOptions{
		Domain: domain, Selector: selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationSimple,
		BodyCanonicalization:   dkim.CanonicalizationSimple,
		HeaderKeys:             dkimHeaders,
	}}, nil
}

// LoadDKIM reads a PEM private key (PKCS #8 "PRIVATE KEY", RSA or
// Ed25519, or PKCS #1 "RSA PRIVATE KEY", as `openssl genpkey` and
// `openssl genrsa` write them) from keyFile and returns a signer for
// domain's selector. Errors never quote the key.
func LoadDKIM(keyFile, domain, selector string) (*DKIM, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("mailer: DKIM key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("mailer: DKIM key %s holds no PEM block", keyFile)
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
		return nil, fmt.Errorf("mailer: DKIM key %s: %w", keyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("mailer: DKIM key %s: a %T cannot sign", keyFile, key)
	}
	return NewDKIM(signer, domain, selector)
}

// Domain returns the signing domain (d=).
func (k *DKIM) Domain() string { return k.opts.Domain }

// Selector returns the selector (s=).
func (k *DKIM) Selector() string { return k.opts.Selector }

// DNSRecord returns the TXT record to publish at
// SELECTOR._domainkey.DOMAIN for receivers to verify the signatures.
func (k *DKIM) DNSRecord() (string, error) {
	switch pub := k.opts.Signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("mailer: DKIM public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", errors.New("mailer: DKIM key of an unknown kind")
}

// Sign returns the DKIM-Signature field (with its CRLF) to put before
// msg, a whole message with CRLF line endings.
func (k *DKIM) Sign(msg []byte) ([]byte, error) {
	s, err := dkim.NewSigner(&k.opts)
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
	return []byte(s.Signature()), nil
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
