package feedback_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
)

func webhookServer(t *testing.T, h http.Handler) string {
	t.Helper()
	if h == nil {
		t.Fatal("the webhook is not configured")
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func postJSON(t *testing.T, url string, body []byte, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func webhookFixture(t *testing.T, name string, replace ...string) []byte {
	t.Helper()
	return []byte(strings.NewReplacer(replace...).Replace(fixture(t, "webhooks/"+name)))
}

func TestWebhookPostmark(t *testing.T) {
	w := newWorld(t, 3)
	url := webhookServer(t, feedback.NewWebhooks(w.svc, feedback.WebhookConfig{PostmarkUser: "pm", PostmarkPassword: "s3cret"}).Handler("postmark"))
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	complaint := webhookFixture(t, "postmark-spam-complaint.json", "john@example.com", w.emails[1])
	for _, auth := range []string{"", basic("pm", "wrong"), basic("other", "s3cret")} {
		if code := postJSON(t, url, complaint, "Authorization", auth); code != 401 {
			t.Errorf("auth %q: %d, want 401", auth, code)
		}
	}
	w.checkOnly(t, -1, "")
	if code := postJSON(t, url, webhookFixture(t, "postmark-bounce.json", "john@example.com", w.emails[0]), "Authorization", basic("pm", "s3cret")); code != 200 {
		t.Fatalf("bounce: %d", code)
	}
	if code := postJSON(t, url, complaint, "Authorization", basic("pm", "s3cret")); code != 200 {
		t.Fatalf("complaint: %d", code)
	}
	if w.status(t, 0) != digest.Bounced || w.status(t, 1) != digest.Complained || w.status(t, 2) != digest.Active {
		t.Errorf("statuses %s %s %s", w.status(t, 0), w.status(t, 1), w.status(t, 2))
	}
	if n := w.metrics.get("hard/webhook:postmark"); n != 1 {
		t.Errorf("metric %d", n)
	}
	if code := postJSON(t, url, []byte("{not json"), "Authorization", basic("pm", "s3cret")); code != 400 {
		t.Errorf("bad JSON: %d", code)
	}
	if n := strings.Count(w.logs.String(), "Refusing a webhook that is not authentic"); n != 3 {
		t.Errorf("%d warnings for 3 refusals", n)
	}
}

func TestWebhookMailgun(t *testing.T) {
	w := newWorld(t, 2)
	const key = "key-0123456789abcdef"
	url := webhookServer(t, feedback.NewWebhooks(w.svc, feedback.WebhookConfig{MailgunKey: key}).Handler("mailgun"))
	signed := func(ts time.Time, k string) []byte {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		mac := hmac.New(sha256.New, []byte(k))
		mac.Write([]byte(stamp + "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"))
		return webhookFixture(t, "mailgun-failed-permanent.json", "alice@example.com", w.emails[0],
			"TIMESTAMP", stamp, "SIGNATURE", hex.EncodeToString(mac.Sum(nil)))
	}
	// (Mailgun signs the timestamp and token only, not the event.)
	for name, body := range map[string][]byte{
		"another key":      signed(time.Now(), "key-other"),
		"an old timestamp": signed(time.Now().Add(-6*time.Minute), key),
		"no signature":     webhookFixture(t, "mailgun-failed-permanent.json", "alice@example.com", w.emails[0]),
	} {
		if code := postJSON(t, url, body); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	w.checkOnly(t, -1, "")
	if code := postJSON(t, url, signed(time.Now(), key)); code != 200 {
		t.Fatalf("valid: %d", code)
	}
	w.checkOnly(t, 0, digest.Bounced)
}

func TestWebhookSendGrid(t *testing.T) {
	w := newWorld(t, 4)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pub, err := feedback.ParseSendGridKey(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		t.Fatal(err)
	}
	url := webhookServer(t, feedback.NewWebhooks(w.svc, feedback.WebhookConfig{SendGridKey: pub}).Handler("sendgrid"))
	// The documentation's batch, each event about another subscriber.
	var events []map[string]any
	if err := json.Unmarshal(webhookFixture(t, "sendgrid-events.json"), &events); err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i]["email"] = w.emails[i]
	}
	body, _ := json.Marshal(events)
	sign := func(ts string, b []byte, k *ecdsa.PrivateKey) string {
		sum := sha256.Sum256(append([]byte(ts), b...))
		sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	for name, h := range map[string][2]string{
		"another key":      {now, sign(now, body, other)},
		"another body":     {now, sign(now, append([]byte(" "), body...), priv)},
		"an old timestamp": {old, sign(old, body, priv)},
		"no signature":     {now, ""},
	} {
		if code := postJSON(t, url, body, "X-Twilio-Email-Event-Webhook-Timestamp", h[0], "X-Twilio-Email-Event-Webhook-Signature", h[1]); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	w.checkOnly(t, -1, "")
	if code := postJSON(t, url, body, "X-Twilio-Email-Event-Webhook-Timestamp", now, "X-Twilio-Email-Event-Webhook-Signature", sign(now, body, priv)); code != 200 {
		t.Fatalf("valid: %d", code)
	}
	want := []digest.SubscriberStatus{digest.Active, digest.Bounced, digest.Complained, digest.Unsubscribed}
	for i, st := range want {
		if got := w.status(t, i); got != st {
			t.Errorf("subscriber %d is %s, want %s", i, got, st)
		}
	}
}

// sns signs SNS messages with a self-made certificate served at an SNS
// URL by the injected fetcher.
type sns struct {
	key     *rsa.PrivateKey
	certURL string
	mu      sync.Mutex
	gets    []string
	pem     []byte
}

func newSNS(t *testing.T) *sns {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &sns{key: key, certURL: "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (s *sns) get(_ context.Context, url string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets = append(s.gets, url)
	if url == s.certURL {
		return s.pem, nil
	}
	return []byte("<ConfirmSubscriptionResponse/>"), nil
}

// message returns a signed SNS delivery (as AWS documents its fields and
// the string it signs).
func (s *sns) message(t *testing.T, typ, topic, msg, version string) []byte {
	t.Helper()
	m := map[string]string{"Type": typ, "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topic,
		"Message": msg, "Timestamp": "2026-11-27T06:00:00.000Z", "SignatureVersion": version, "SigningCertURL": s.certURL}
	names := []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
	if typ == "SubscriptionConfirmation" {
		m["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
		m["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=2336412f"
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var text strings.Builder
	for _, n := range names {
		text.WriteString(n + "\n" + m[n] + "\n")
	}
	var sig []byte
	var err error
	if version == "1" {
		sum := sha1.Sum([]byte(text.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA1, sum[:])
	} else {
		sum := sha256.Sum256([]byte(text.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	b, _ := json.Marshal(m)
	return b
}

func TestWebhookSES(t *testing.T) {
	w := newWorld(t, 4)
	sent := w.sendEdition(t, "2026-11-27")
	const topic = "arn:aws:sns:us-east-1:123456789012:ses-feedback"
	s := newSNS(t)
	url := webhookServer(t, feedback.NewWebhooks(w.svc, feedback.WebhookConfig{SESTopics: []string{topic}, Get: s.get}).Handler("ses"))

	bounce := string(webhookFixture(t, "ses-bounce.json", "jane@example.com", w.emails[0]))
	// The complaint names its subscriber by the VERP return path the mail
	// went out with (SES's mail.source), not only by address.
	complaint := string(webhookFixture(t, "ses-complaint.json", "richard@example.com", w.emails[1],
		`"source": "john@example.com"`, `"source": "`+sent[w.emails[1]].returnPath+`"`))

	forged := s.message(t, "Notification", topic, bounce, "2")
	forged = []byte(strings.Replace(string(forged), `Permanent`, `Transient`, 1))
	evil := strings.Replace(string(s.message(t, "Notification", topic, bounce, "2")), "sns.us-east-1.amazonaws.com", "sns.us-east-1.amazonaws.com.evil.example", 1)
	otherTopic := s.message(t, "Notification", "arn:aws:sns:us-east-1:999999999999:theirs", bounce, "2")
	for name, body := range map[string][]byte{"an altered message": forged, "a certificate elsewhere": []byte(evil), "another topic": otherTopic} {
		if code := postJSON(t, url, body); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	w.checkOnly(t, -1, "")
	for _, g := range s.gets {
		if strings.Contains(g, "evil") {
			t.Errorf("fetched %s", g)
		}
	}

	if code := postJSON(t, url, s.message(t, "SubscriptionConfirmation", topic, "You have chosen to subscribe to the topic.", "1")); code != 200 {
		t.Fatalf("subscription confirmation: %d", code)
	}
	if last := s.gets[len(s.gets)-1]; !strings.Contains(last, "Action=ConfirmSubscription") {
		t.Errorf("the subscription was not confirmed: %v", s.gets)
	}
	if code := postJSON(t, url, s.message(t, "Notification", topic, bounce, "1")); code != 200 {
		t.Fatalf("bounce: %d", code)
	}
	if code := postJSON(t, url, s.message(t, "Notification", topic, complaint, "2")); code != 200 {
		t.Fatalf("complaint: %d", code)
	}
	if w.status(t, 0) != digest.Bounced || w.status(t, 1) != digest.Complained || w.status(t, 2) != digest.Active {
		t.Errorf("statuses %s %s %s", w.status(t, 0), w.status(t, 1), w.status(t, 2))
	}
	evs, _, _ := w.store.FeedbackEvents(context.Background(), "complaint", "", 10)
	if len(evs) != 1 || evs[0].Edition != "2026-11-27" || evs[0].Source != "webhook:ses" {
		t.Errorf("complaint events %+v", evs)
	}
	if n := strings.Count(s.certsFetched(), s.certURL); n != 1 {
		t.Errorf("the certificate was fetched %d times, want once", n)
	}
}

func (s *sns) certsFetched() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.gets)
}

func TestWebhooksOffWithoutSecrets(t *testing.T) {
	h := feedback.NewWebhooks(nil, feedback.WebhookConfig{})
	for _, p := range []string{"ses", "postmark", "mailgun", "sendgrid", "other"} {
		if h.Handler(p) != nil {
			t.Errorf("%s is on without credentials", p)
		}
	}
}
