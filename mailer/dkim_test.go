package mailer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// verifyDKIM verifies msg's signatures with a DNS stub publishing k's
// records at SELECTOR._domainkey.example.com: one verification per key.
func verifyDKIM(t *testing.T, k *DKIM, msg []byte) []*dkim.Verification {
	t.Helper()
	records, err := k.DNSRecords()
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) ([]string, error) {
		sel, ok := strings.CutSuffix(name, "._domainkey."+k.Domain())
		if r, found := records[sel]; ok && found {
			return []string{r}, nil
		}
		return nil, errors.New("no such record: " + name)
	}
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(verifications) != len(k.Selectors()) {
		t.Fatalf("%d signatures, want %d", len(verifications), len(k.Selectors()))
	}
	return verifications
}

func TestDKIMSignature(t *testing.T) {
	for _, kind := range []string{"ed25519", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			k := testDKIM(t, kind)
			cfg := testDigestConfig()
			cfg.DKIM = k
			d := newTestDigest(t, sampleEdition(t), cfg)
			r := testRecipient(11)
			msg, err := d.Message(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(msg, []byte("DKIM-Signature: ")) {
				t.Fatalf("the message does not start with its DKIM-Signature:\n%.300s", msg)
			}
			checkLines(t, msg)
			v := verifyDKIM(t, k, msg)[0]
			if v.Err != nil {
				t.Fatalf("the signature does not verify: %v", v.Err)
			}
			if v.Domain != "example.com" {
				t.Errorf("signed for %q, want example.com", v.Domain)
			}
			signed := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
			for _, field := range []string{"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type"} {
				if !strings.Contains(":"+signed+":", ":"+field+":") {
					t.Errorf("h= %q does not sign %s", signed, field)
				}
			}
			if !strings.Contains(string(msg[:400]), "c=relaxed/relaxed") {
				t.Errorf("the signature does not use relaxed canonicalisation: %.400s", msg)
			}

			// The text-only form verifies too.
			r.Format = "text"
			text, err := d.Message(r)
			if err != nil {
				t.Fatal(err)
			}
			if v := verifyDKIM(t, k, text)[0]; v.Err != nil {
				t.Errorf("text-only message: %v", v.Err)
			}

			tampered := []struct {
				name   string
				change func([]byte) []byte
			}{
				{"another unsubscribe link", func(m []byte) []byte {
					return bytes.Replace(m, []byte("unsubscribe/u11token>"), []byte("unsubscribe/u12token>"), 1)
				}},
				{"a second List-Unsubscribe added", func(m []byte) []byte {
					return append([]byte("List-Unsubscribe: <https://evil.example.net/>\r\n"), m...)
				}},
				{"List-Unsubscribe-Post removed", func(m []byte) []byte {
					return bytes.Replace(m, []byte("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), nil, 1)
				}},
				{"the subject changed", func(m []byte) []byte {
					return bytes.Replace(m, []byte("Subject: Daily Brief:"), []byte("Subject: Daily Brief!"), 1)
				}},
				{"the body changed", func(m []byte) []byte {
					return bytes.Replace(m, []byte("Iran Loads Up Missiles"), []byte("Iran Loads Up Lettuces"), 1)
				}},
			}
			for _, tt := range tampered {
				changed := tt.change(bytes.Clone(msg))
				if bytes.Equal(changed, msg) {
					t.Fatalf("%s: the change did not apply", tt.name)
				}
				if v := verifyDKIM(t, k, changed)[0]; v.Err == nil {
					t.Errorf("%s: the signature still verifies", tt.name)
				}
			}
		})
	}
}

func writePEM(t *testing.T, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadDKIMSeveralKeys: keys in several files, or several PEM blocks
// in one, each under its own selector, all sign.
func TestLoadDKIMSeveralKeys(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})
	dir := t.TempDir()
	both := filepath.Join(dir, "both.pem")
	rsaFile, edFile := filepath.Join(dir, "rsa.pem"), filepath.Join(dir, "ed.pem")
	os.WriteFile(both, append(append([]byte{}, rsaPEM...), edPEM...), 0o600)
	os.WriteFile(rsaFile, rsaPEM, 0o600)
	os.WriteFile(edFile, edPEM, 0o600)
	for _, files := range []string{both, rsaFile + "," + edFile} {
		k, err := LoadDKIM(files, "example.com", "rsa2026, ed2026")
		if err != nil {
			t.Fatal(err)
		}
		if k.OnlyEd25519() || strings.Join(k.Selectors(), ",") != "rsa2026,ed2026" {
			t.Errorf("%s: selectors %v", files, k.Selectors())
		}
		cfg := testDigestConfig()
		cfg.DKIM = k
		msg, err := newTestDigest(t, sampleEdition(t), cfg).Message(testRecipient(1))
		if err != nil {
			t.Fatal(err)
		}
		vs := verifyDKIM(t, k, msg)
		for _, v := range vs {
			if v.Err != nil {
				t.Errorf("%s: %v", files, v.Err)
			}
		}
	}
	if _, err := LoadDKIM(both, "example.com", "only-one"); err == nil || !strings.Contains(err.Error(), "2 keys but 1 selectors") {
		t.Errorf("two keys, one selector: %v", err)
	}
	if _, err := LoadDKIM(rsaFile+","+edFile, "example.com", "same,same"); err == nil || !strings.Contains(err.Error(), "two keys") {
		t.Errorf("one selector for two keys: %v", err)
	}
	if k, _ := LoadDKIM(edFile, "example.com", "ed"); k == nil || !k.OnlyEd25519() {
		t.Error("an Ed25519 key alone is not OnlyEd25519")
	}
}

func TestLoadDKIM(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	tests := []struct {
		name     string
		path     string
		domain   string
		selector string
		wantErr  string
	}{
		{"Ed25519 PKCS #8", writePEM(t, "PRIVATE KEY", edDER), "example.com", "brief", ""},
		{"RSA PKCS #8", writePEM(t, "PRIVATE KEY", rsaPKCS8), "example.com", "brief", ""},
		{"RSA PKCS #1", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "Example.COM.", "2026-11", ""},
		{"a certificate", writePEM(t, "CERTIFICATE", []byte("x")), "example.com", "brief", `"CERTIFICATE"`},
		{"missing file", filepath.Join(t.TempDir(), "nope.pem"), "example.com", "brief", "no such file"},
		{"bad domain", writePEM(t, "PRIVATE KEY", edDER), "example com", "brief", "not a domain"},
		{"bad selector", writePEM(t, "PRIVATE KEY", edDER), "example.com", "a b", "not a DNS label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadDKIM(tt.path, tt.domain, tt.selector)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Domain() != strings.TrimSuffix(strings.ToLower(tt.domain), ".") {
				t.Errorf("Domain() = %q", k.Domain())
			}
			// A key loaded from a file signs what the stub verifies.
			cfg := testDigestConfig()
			cfg.DKIM = k
			msg, err := newTestDigest(t, sampleEdition(t), cfg).Message(testRecipient(1))
			if err != nil {
				t.Fatal(err)
			}
			if v := verifyDKIM(t, k, msg)[0]; v.Err != nil {
				t.Errorf("verify: %v", v.Err)
			}
		})
	}
}
