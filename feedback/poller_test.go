package feedback_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
)

// imapBox is go-imap's in-process server with one user's mailbox.
type imapBox struct {
	addr string
	user *imapmemserver.User
}

func startIMAP(t *testing.T, tlsCfg *tls.Config) *imapBox {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser("bounces", "s3cret")
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	var ln net.Listener
	var err error
	if tlsCfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &imapBox{addr: ln.Addr().String(), user: user}
}

func (b *imapBox) add(t *testing.T, msg []byte) {
	t.Helper()
	if _, err := b.user.Append("INBOX", bytes.NewReader(msg), &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (b *imapBox) count(t *testing.T, mailbox string) int {
	t.Helper()
	st, err := b.user.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// TestPollerDrainsMailbox: a DSN, an abuse report and a mailto:
// unsubscribe that landed in a provider's mailbox (the tag in their To:
// header, as the provider delivered them), beside mail that names nobody,
// are applied, and the mailbox is left empty.
func TestPollerDrainsMailbox(t *testing.T) {
	w := newWorld(t, 5)
	sent := w.sendEdition(t, "2026-11-27")
	box := startIMAP(t, nil)
	hard := sent[w.emails[0]].returnPath
	box.add(t, dsnFor(t, hard, w.emails[0], "5.0.0"))
	box.add(t, arfFor(t, sent[w.emails[1]].returnPath, w.emails[1]))
	unsub := sent[w.emails[2]].unsubscribe
	box.add(t, []byte("From: "+w.emails[2]+"\r\nTo: <"+unsub+">\r\nSubject: unsubscribe\r\n\r\n"))
	box.add(t, []byte("From: someone@example.net\r\nTo: bounces@news.example.com\r\nSubject: hello\r\n\r\nhi\r\n"))
	box.add(t, []byte("garbage without a header\r\n"))

	m, err := feedback.ParseMailbox("imap://bounces:s3cret@" + box.addr + "/INBOX?tls=none")
	if err != nil {
		t.Fatal(err)
	}
	p := feedback.NewPoller(w.svc, m, nil, nil)
	n, err := p.Poll(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("Poll: %d %v, want 5", n, err)
	}
	want := []digest.SubscriberStatus{digest.Bounced, digest.Complained, digest.Unsubscribed, digest.Active, digest.Active}
	for i, st := range want {
		if got := w.status(t, i); got != st {
			t.Errorf("subscriber %d is %s, want %s", i, got, st)
		}
	}
	if got := box.count(t, "INBOX"); got != 0 {
		t.Errorf("INBOX holds %d messages after a pass, want 0", got)
	}
	if got := box.count(t, "Processed"); got != 5 {
		t.Errorf("Processed holds %d messages, want 5", got)
	}
	if n, err := p.Poll(context.Background()); err != nil || n != 0 {
		t.Errorf("a second pass: %d %v", n, err)
	}
	if got := w.metrics.get("hard/mailbox") + w.metrics.get("complaint/mailbox") + w.metrics.get("unsubscribe/mailbox"); got != 3 {
		t.Errorf("%d mailbox events counted, want 3", got)
	}
}

// With ?processed=- processed mail is deleted; imaps:// speaks TLS.
func TestPollerDeletesOverTLS(t *testing.T) {
	w := newWorld(t, 2)
	sent := w.sendEdition(t, "2026-11-27")
	serverTLS, roots := selfSigned(t)
	box := startIMAP(t, serverTLS)
	box.add(t, dsnFor(t, sent[w.emails[1]].returnPath, w.emails[1], "5.1.1"))
	m, err := feedback.ParseMailbox("imaps://bounces:s3cret@" + box.addr + "/INBOX?processed=-")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := feedback.NewPoller(w.svc, m, &tls.Config{RootCAs: roots}, nil).Poll(context.Background()); err != nil || n != 1 {
		t.Fatalf("Poll: %d %v", n, err)
	}
	w.checkOnly(t, 1, digest.Bounced)
	if got := box.count(t, "INBOX"); got != 0 {
		t.Errorf("INBOX holds %d", got)
	}
	if got := box.count(t, "Processed"); got != -1 {
		t.Errorf("a Processed folder was made: %d", got)
	}
	// A wrong password is an error, and changes nothing.
	bad, _ := feedback.ParseMailbox("imaps://bounces:wrong@" + box.addr + "/INBOX")
	if _, err := feedback.NewPoller(w.svc, bad, &tls.Config{RootCAs: roots}, nil).Poll(context.Background()); err == nil {
		t.Error("a wrong password polled")
	}
	if strings.Contains(bad.String(), "wrong") {
		t.Errorf("the mailbox prints its password: %s", bad)
	}
}

func TestParseMailbox(t *testing.T) {
	for _, bad := range []string{
		"pop3://u:p@host/INBOX", "imaps://host/INBOX", "imaps://u:p@/INBOX", "imaps://u:p@host/INBOX?tls=none",
		"imap://u:p@host/INBOX?tls=maybe", "imap://u:p@host/INBOX?processed=INBOX", "imap://u:p@host/INBOX?other=1", "::",
	} {
		if _, err := feedback.ParseMailbox(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	m, err := feedback.ParseMailbox("imaps://u:p@mail.example.com")
	if err != nil || m.String() != "imaps://u@mail.example.com:993/INBOX" {
		t.Errorf("%v %v", m, err)
	}
}

// selfSigned returns a server TLS config for 127.0.0.1 and the pool that
// trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}
