package feedback

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// ProviderEvent is one event a provider's webhook reports.
type ProviderEvent struct {
	Kind       Kind
	Email      string // the recipient
	Ref        string // the provider's id of the message (or event): the same event twice is a replay
	Diagnostic string
	// ReturnPath, when the provider tells it (SES's mail.source), is the
	// envelope sender the mail went out with: its tag names the
	// subscriber and the edition.
	ReturnPath string
}

// HandleEvent applies one provider event. The webhook's authenticity is
// checked by the caller; the recipient must still be a subscriber.
func (s *Service) HandleEvent(ctx context.Context, provider string, ev ProviderEvent) error {
	source := "webhook:" + provider
	log := s.cfg.Logger.With(slog.String("source", source))
	if ev.Kind == None {
		return nil
	}
	if tag, _, found, _ := s.findTag([]string{ev.ReturnPath}); found {
		ref := tag.Edition()
		if tag.Confirmation {
			ref = "confirm:" + tag.Day.Format(digest.DayLayout)
		}
		return s.apply(ctx, log, tag.Subscriber, tag.Edition(), ref, tag.Sent, ev.Kind, oneLine(ev.Diagnostic), source)
	}
	email, err := digest.NormalizeEmail(ev.Email)
	if err != nil {
		log.Info("Ignoring a provider event without a valid recipient", slog.String("kind", string(ev.Kind)))
		return nil
	}
	sub, err := s.store.SubscriberByEmail(ctx, email)
	if errors.Is(err, digest.ErrNotFound) {
		log.Info("Ignoring a provider event about an address that is not a subscriber", slog.String("kind", string(ev.Kind)))
		return nil
	}
	if err != nil {
		return fmt.Errorf("feedback: %w", err)
	}
	ref := ev.Ref
	if ref == "" {
		ref = "unknown"
	}
	if len(ref) > 200 {
		ref = ref[:200]
	}
	return s.apply(ctx, log, sub.ID, "", provider+":"+ref, time.Time{}, ev.Kind, oneLine(ev.Diagnostic), source)
}

// WebhookConfig holds the providers' credentials (from the environment);
// a provider without them has no webhook.
type WebhookConfig struct {
	// SESTopics are the SNS topic ARNs whose notifications are accepted.
	SESTopics []string
	// PostmarkUser and PostmarkPassword: the basic auth in the webhook's
	// URL.
	PostmarkUser, PostmarkPassword string
	// MailgunKey is Mailgun's HTTP webhook signing key.
	MailgunKey string
	// SendGridKey is the signed event webhook's verification key.
	SendGridKey *ecdsa.PublicKey
	// Get fetches SNS signing certificates and visits subscription
	// confirmation URLs (nil: an HTTPS client with timeouts); tests
	// inject their own.
	Get func(ctx context.Context, url string) ([]byte, error)
	Now func() time.Time
}

// Webhooks verifies and reads the providers' webhooks, and hands their
// events to the Service. Nothing changes before a request is shown
// authentic: a bad signature is 401 and one warning line.
type Webhooks struct {
	svc   *Service
	cfg   WebhookConfig
	certs sync.Map // signing certificate URL → *x509.Certificate
}

// NewWebhooks returns the webhooks of the providers cfg has credentials
// for.
func NewWebhooks(svc *Service, cfg WebhookConfig) *Webhooks {
	if cfg.Get == nil {
		cfg.Get = httpsGet
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhooks{svc: svc, cfg: cfg}
}

// maxWebhookBody bounds a webhook request.
const maxWebhookBody = 1 << 20

// Handler returns the webhook of provider ("ses", "postmark", "mailgun",
// "sendgrid"), or nil when it is not configured.
func (h *Webhooks) Handler(provider string) http.Handler {
	var f func(ctx context.Context, r *http.Request, body []byte) ([]ProviderEvent, error)
	switch {
	case provider == "ses" && len(h.cfg.SESTopics) > 0:
		f = h.ses
	case provider == "postmark" && h.cfg.PostmarkUser != "":
		f = h.postmark
	case provider == "mailgun" && h.cfg.MailgunKey != "":
		f = h.mailgun
	case provider == "sendgrid" && h.cfg.SendGridKey != nil:
		f = h.sendgrid
	default:
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "the request body is over 1 MB")
			return
		}
		evs, err := f(r.Context(), r, body)
		var bad *badRequest
		switch {
		case errors.Is(err, errUnauthentic):
			h.svc.cfg.Logger.Warn("Refusing a webhook that is not authentic", slog.String("provider", provider),
				slog.String("remote", r.RemoteAddr), slog.Any("error", err))
			writeError(w, http.StatusUnauthorized, "not authentic")
			return
		case errors.As(err, &bad):
			writeError(w, http.StatusBadRequest, bad.msg)
			return
		case err != nil:
			h.svc.cfg.Logger.Error("A webhook failed", slog.String("provider", provider), slog.Any("error", err))
			writeError(w, http.StatusServiceUnavailable, "try again later")
			return
		}
		for _, ev := range evs {
			if err := h.svc.HandleEvent(r.Context(), provider, ev); err != nil {
				h.svc.cfg.Logger.Error("Unable to store a provider event", slog.String("provider", provider), slog.Any("error", err))
				writeError(w, http.StatusServiceUnavailable, "try again later")
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","events":%d}`+"\n", len(evs))
	})
}

// errUnauthentic wraps every failed authenticity check.
var errUnauthentic = errors.New("feedback: webhook not authentic")

type badRequest struct{ msg string }

func (e *badRequest) Error() string { return "feedback: bad webhook request: " + e.msg }

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Write(append(b, '\n'))
}

// postmark checks the webhook's basic auth and reads a Bounce or
// SpamComplaint record.
func (h *Webhooks) postmark(_ context.Context, r *http.Request, body []byte) ([]ProviderEvent, error) {
	user, pass, ok := r.BasicAuth()
	wantU, wantP := sha256.Sum256([]byte(h.cfg.PostmarkUser)), sha256.Sum256([]byte(h.cfg.PostmarkPassword))
	gotU, gotP := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	if !ok || subtle.ConstantTimeCompare(wantU[:], gotU[:])&subtle.ConstantTimeCompare(wantP[:], gotP[:]) != 1 {
		return nil, fmt.Errorf("%w: wrong basic auth", errUnauthentic)
	}
	var rec struct {
		RecordType, Type, Email, MessageID, Description, Details string
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, &badRequest{"not a Postmark webhook record"}
	}
	ev := ProviderEvent{Email: rec.Email, Ref: rec.MessageID, Diagnostic: strings.TrimSpace(rec.Type + ": " + rec.Description + " " + rec.Details)}
	switch {
	case rec.RecordType == "SpamComplaint" || rec.Type == "SpamComplaint":
		ev.Kind = Complaint
	case rec.RecordType == "Bounce" && (rec.Type == "HardBounce" || rec.Type == "BadEmailAddress"):
		ev.Kind = Hard
	case rec.RecordType == "Bounce" && (rec.Type == "SoftBounce" || rec.Type == "Transient" || rec.Type == "DnsError"):
		ev.Kind = Soft
	}
	return []ProviderEvent{ev}, nil
}

// mailgun checks the HMAC-SHA256 of timestamp and token with the signing
// key, and that the timestamp is within 5 minutes, and reads the event.
func (h *Webhooks) mailgun(_ context.Context, _ *http.Request, body []byte) ([]ProviderEvent, error) {
	var in struct {
		Signature struct{ Timestamp, Token, Signature string } `json:"signature"`
		Event     struct {
			Event, Severity, Recipient, ID, Reason string
			Message                                struct {
				Headers map[string]string `json:"headers"`
			} `json:"message"`
			DeliveryStatus struct {
				Code                 int
				Message, Description string
			} `json:"delivery-status"`
		} `json:"event-data"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &badRequest{"not a Mailgun webhook"}
	}
	sig := in.Signature
	mac := hmac.New(sha256.New, []byte(h.cfg.MailgunKey))
	mac.Write([]byte(sig.Timestamp + sig.Token))
	want := hex.EncodeToString(mac.Sum(nil))
	if sig.Token == "" || !hmac.Equal([]byte(want), []byte(strings.ToLower(sig.Signature))) {
		return nil, fmt.Errorf("%w: wrong Mailgun signature", errUnauthentic)
	}
	if err := h.fresh(sig.Timestamp); err != nil {
		return nil, err
	}
	e := in.Event
	ev := ProviderEvent{Email: e.Recipient, Ref: e.Message.Headers["message-id"],
		Diagnostic: strings.TrimSpace(e.Event + " " + e.Severity + ": " + strconv.Itoa(e.DeliveryStatus.Code) + " " + e.DeliveryStatus.Message + " " + e.DeliveryStatus.Description)}
	if ev.Ref == "" {
		ev.Ref = e.ID
	}
	switch {
	case e.Event == "failed" && e.Severity == "permanent":
		ev.Kind = Hard
	case e.Event == "failed" && e.Severity == "temporary":
		ev.Kind = Soft
	case e.Event == "complained":
		ev.Kind = Complaint
	case e.Event == "unsubscribed":
		ev.Kind = Unsubscribe
	}
	return []ProviderEvent{ev}, nil
}

// fresh checks a Unix timestamp is within 5 minutes of now.
func (h *Webhooks) fresh(ts string) error {
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no timestamp", errUnauthentic)
	}
	if d := h.cfg.Now().Sub(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("%w: the timestamp is %v away", errUnauthentic, d.Round(time.Second))
	}
	return nil
}

// httpsGet fetches an https URL (at most 64 KB, 10 s).
func httpsGet(ctx context.Context, url string) ([]byte, error) {
	if !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("feedback: %s is not https", url)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("feedback: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("feedback: GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("feedback: GET %s: %w", url, err)
	}
	return b, nil
}
