package mailer

import (
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
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testServer is an in-process SMTP server (go-smtp) that records what it
// receives and answers as told.
type testServer struct {
	addr string // 127.0.0.1:port

	mu       sync.Mutex
	received []receivedMail
	authed   []string // users that authenticated

	opts testServerOptions
}

// receivedMail is one message the test server accepted.
type receivedMail struct {
	from string
	to   []string
	data []byte
	tls  bool // it came over TLS
}

type testServerOptions struct {
	// tls is the server's certificate: offered with STARTTLS, or from
	// the first byte when implicit is set.
	tls      *tls.Config
	implicit bool
	// users maps user names to passwords; AUTH is offered when set, with
	// mechanisms (PLAIN unless given).
	users      map[string]string
	mechanisms []string
	// rcpt answers RCPT TO for the given addresses.
	rcpt map[string]*smtp.SMTPError
	// data, when set, runs before the message is read (e.g. to stall).
	data func()
}

// startTestServer serves on 127.0.0.1:0 until the test ends.
func startTestServer(t *testing.T, opts testServerOptions) *testServer {
	t.Helper()
	ts := &testServer{opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &testSession{ts: ts, tls: isTLS, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLSConfig = opts.tls
	// Tests authenticate over plain text to 127.0.0.1 too.
	srv.AllowInsecureAuth = true

	var l net.Listener
	var err error
	if opts.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", opts.tls)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ts
}

// mails returns what the server accepted so far.
func (ts *testServer) mails() []receivedMail {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]receivedMail(nil), ts.received...)
}

// authenticated returns the users that authenticated so far.
func (ts *testServer) authenticated() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.authed...)
}

type testSession struct {
	ts   *testServer
	conn *smtp.Conn
	tls  bool
	from string
	to   []string
}

func (s *testSession) AuthMechanisms() []string {
	switch {
	case s.ts.opts.users == nil:
		return nil
	case s.ts.opts.mechanisms != nil:
		return s.ts.opts.mechanisms
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if want, ok := s.ts.opts.users[username]; !ok || password != want {
			return smtp.ErrAuthFailed
		}
		s.ts.mu.Lock()
		s.ts.authed = append(s.ts.authed, username)
		s.ts.mu.Unlock()
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl no longer
// has: ask for the user name, then the password.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.username, string(response))
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if reply, ok := s.ts.opts.rcpt[to]; ok {
		return reply
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	if s.ts.opts.data != nil {
		s.ts.opts.data()
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.ts.mu.Lock()
	s.ts.received = append(s.ts.received, receivedMail{from: s.from, to: s.to, data: data, tls: isTLS || s.tls})
	s.ts.mu.Unlock()
	return nil
}

func (s *testSession) Reset() {
	s.from, s.to = "", nil
}

func (s *testSession) Logout() error { return nil }

// testCert is a self-signed certificate for 127.0.0.1 and localhost: the
// server's TLS configuration, and a client configuration trusting it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "broadsheet test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client = &tls.Config{RootCAs: roots}
	return server, client
}
