package feedback

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// snsMessage is an Amazon SNS HTTP(S) delivery.
type snsMessage struct {
	Type, MessageID, Token, TopicArn, Subject, Message, SubscribeURL, Timestamp string
	SignatureVersion, Signature, SigningCertURL                                 string
}

func (m *snsMessage) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type, MessageId, Token, TopicArn, Subject, Message, SubscribeURL, Timestamp string
		SignatureVersion, Signature, SigningCertURL                                 string
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = snsMessage{raw.Type, raw.MessageId, raw.Token, raw.TopicArn, raw.Subject, raw.Message, raw.SubscribeURL,
		raw.Timestamp, raw.SignatureVersion, raw.Signature, raw.SigningCertURL}
	return nil
}

// snsHost is the host of SNS's signing certificates and subscription
// confirmation URLs.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// checkSNSURL refuses a URL that is not https on an SNS host: a forged
// message would otherwise name a certificate of its own.
func checkSNSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || !snsHost.MatchString(u.Host) || u.User != nil {
		return fmt.Errorf("%w: %q is not an https URL on sns.<region>.amazonaws.com", errUnauthentic, raw)
	}
	return nil
}

// stringToSign is the text SNS signs: the message's fields, name then
// value, each on its line, in this order, those present only.
func (m *snsMessage) stringToSign() string {
	var fields []string
	if m.Type == "Notification" {
		fields = []string{"Message", m.Message, "MessageId", m.MessageID}
		if m.Subject != "" {
			fields = append(fields, "Subject", m.Subject)
		}
		fields = append(fields, "Timestamp", m.Timestamp, "TopicArn", m.TopicArn, "Type", m.Type)
	} else {
		fields = []string{"Message", m.Message, "MessageId", m.MessageID, "SubscribeURL", m.SubscribeURL,
			"Timestamp", m.Timestamp, "Token", m.Token, "TopicArn", m.TopicArn, "Type", m.Type}
	}
	return strings.Join(fields, "\n") + "\n"
}

// verifySNS checks the message's signature against its signing
// certificate, fetched (once per URL) from SNS.
func (h *Webhooks) verifySNS(ctx context.Context, m *snsMessage) error {
	if err := checkSNSURL(m.SigningCertURL); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: no SNS signature", errUnauthentic)
	}
	var cert *x509.Certificate
	if c, ok := h.certs.Load(m.SigningCertURL); ok {
		cert = c.(*x509.Certificate)
	} else {
		b, err := h.cfg.Get(ctx, m.SigningCertURL)
		if err != nil {
			return fmt.Errorf("feedback: the SNS signing certificate: %w", err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("%w: the SNS signing certificate is not PEM", errUnauthentic)
		}
		if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%w: the SNS signing certificate: %w", errUnauthentic, err)
		}
		h.certs.Store(m.SigningCertURL, cert)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the SNS signing certificate's key is not RSA", errUnauthentic)
	}
	text := []byte(m.stringToSign())
	switch m.SignatureVersion {
	case "1":
		sum := sha1.Sum(text)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA1, sum[:], sig)
	case "2":
		sum := sha256.Sum256(text)
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		return fmt.Errorf("%w: SNS signature version %q", errUnauthentic, m.SignatureVersion)
	}
	if err != nil {
		return fmt.Errorf("%w: wrong SNS signature", errUnauthentic)
	}
	return nil
}

// sesNotification is what SES publishes to SNS (notifications, or event
// publishing's eventType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
	} `json:"complaint"`
	Mail struct {
		Source    string `json:"source"`
		MessageID string `json:"messageId"`
	} `json:"mail"`
}

// ses verifies an SNS delivery (signature, certificate URL, an accepted
// topic), confirms a subscription, and reads SES bounce and complaint
// notifications.
func (h *Webhooks) ses(ctx context.Context, r *http.Request, body []byte) ([]ProviderEvent, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil || m.Type == "" {
		return nil, &badRequest{"not an Amazon SNS message"}
	}
	if err := h.verifySNS(ctx, &m); err != nil {
		return nil, err
	}
	if !slices.Contains(h.cfg.SESTopics, m.TopicArn) {
		return nil, fmt.Errorf("%w: topic %q is not in BROADSHEET_SES_TOPIC_ARNS", errUnauthentic, m.TopicArn)
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := checkSNSURL(m.SubscribeURL); err != nil {
			return nil, err
		}
		if _, err := h.cfg.Get(ctx, m.SubscribeURL); err != nil {
			return nil, fmt.Errorf("feedback: confirm the SNS subscription: %w", err)
		}
		h.svc.cfg.Logger.Info("Confirmed the SNS subscription", slog.String("topic", m.TopicArn))
		return nil, nil
	case "Notification":
	default:
		return nil, nil // UnsubscribeConfirmation: nothing to do
	}
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		return nil, &badRequest{"the SNS message is not an SES notification"}
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	var evs []ProviderEvent
	switch kind {
	case "Bounce":
		k := Soft
		if n.Bounce.BounceType == "Permanent" {
			k = Hard
		}
		for _, rcpt := range n.Bounce.BouncedRecipients {
			evs = append(evs, ProviderEvent{Kind: k, Email: rcpt.EmailAddress, Ref: n.Mail.MessageID, ReturnPath: n.Mail.Source,
				Diagnostic: strings.TrimSpace(n.Bounce.BounceType + "/" + n.Bounce.BounceSubType + " " + rcpt.Status + ": " + rcpt.DiagnosticCode)})
		}
	case "Complaint":
		if n.Complaint.ComplaintFeedbackType == "not-spam" {
			return nil, nil
		}
		for _, rcpt := range n.Complaint.ComplainedRecipients {
			evs = append(evs, ProviderEvent{Kind: Complaint, Email: rcpt.EmailAddress, Ref: n.Mail.MessageID, ReturnPath: n.Mail.Source,
				Diagnostic: strings.TrimSpace("complaint " + n.Complaint.ComplaintFeedbackType)})
		}
	}
	return evs, nil
}
