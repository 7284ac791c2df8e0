package feedback

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ParseSendGridKey reads the signed event webhook's verification key as
// SendGrid shows it: base64 of a DER (PKIX) ECDSA public key.
func ParseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("feedback: the SendGrid verification key is not base64")
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("feedback: the SendGrid verification key: %w", err)
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("feedback: the SendGrid verification key is not an ECDSA key")
	}
	return key, nil
}

// sendgrid checks the ECDSA signature over the timestamp and the body
// (X-Twilio-Email-Event-Webhook-Signature and -Timestamp), the timestamp
// within 5 minutes, and reads the batch of events.
func (h *Webhooks) sendgrid(_ context.Context, r *http.Request, body []byte) ([]ProviderEvent, error) {
	ts := r.Header.Get("X-Twilio-Email-Event-Webhook-Timestamp")
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Twilio-Email-Event-Webhook-Signature"))
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: no SendGrid signature", errUnauthentic)
	}
	sum := sha256.Sum256(append([]byte(ts), body...))
	if !ecdsa.VerifyASN1(h.cfg.SendGridKey, sum[:], sig) {
		return nil, fmt.Errorf("%w: wrong SendGrid signature", errUnauthentic)
	}
	if err := h.fresh(ts); err != nil {
		return nil, err
	}
	var in []struct {
		Email, Event, Type, Reason, Status string
		EventID                            string `json:"sg_event_id"`
		MessageID                          string `json:"sg_message_id"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &badRequest{"not a SendGrid event batch"}
	}
	var evs []ProviderEvent
	for _, e := range in {
		ev := ProviderEvent{Email: e.Email, Ref: e.MessageID, Diagnostic: strings.TrimSpace(e.Event + " " + e.Type + " " + e.Status + ": " + e.Reason)}
		if ev.Ref == "" {
			ev.Ref = e.EventID
		}
		switch {
		case e.Event == "bounce" && e.Type != "blocked":
			ev.Kind = Hard
		case e.Event == "bounce", e.Event == "deferred":
			ev.Kind = Soft
		case e.Event == "spamreport":
			ev.Kind = Complaint
		case e.Event == "unsubscribe", e.Event == "group_unsubscribe":
			ev.Kind = Unsubscribe
		default:
			continue // processed, delivered, open, click…
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
