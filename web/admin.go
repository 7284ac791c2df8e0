package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// maxImportBody bounds an import upload (about two million lines).
const maxImportBody = 100 << 20

// requireAdmin guards the admin API with a bearer token, compared in
// constant time. Without a configured token the API is off (403). A client
// (IPv4 address or IPv6 /64) that failed AdminFailuresPerMinute times in
// the last minute gets 429 whatever it sends, so guessing is slow;
// failures are logged once a minute with their count.
func (s *Server) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			writeJSON(w, http.StatusForbidden, map[string]string{
				"error": "the admin API is off: set BROADSHEET_ADMIN_TOKEN (or BROADSHEET_ADMIN_TOKEN_FILE) in serve's environment to turn it on"})
			return
		}
		client := limitKey(clientAddr(r, s.cfg.TrustProxy))
		if s.limits != nil {
			// Look before checking the token: a client past its budget
			// learns nothing, not even when it guessed right.
			ok, wait, err := s.limits.Allow(r.Context(), "admin-auth", client, s.cfg.AdminFailuresPerMinute, true)
			if err == nil && !ok {
				s.authFailures.add(client, true)
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
				writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many failed authentications; try again in a minute"})
				return
			}
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.tokenMatches(got) {
			s.authFailures.add(client, false)
			if s.limits != nil {
				_, _, _ = s.limits.Allow(r.Context(), "admin-auth", client, s.cfg.AdminFailuresPerMinute, false)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="broadsheet admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		next(w, r)
	}
}

// subscriberJSON is a subscriber as the admin API shows it.
type subscriberJSON struct {
	ID            int64       `json:"id"`
	Email         string      `json:"email"`
	Name          string      `json:"name"`
	Status        string      `json:"status"`
	Format        string      `json:"format"`
	ConfirmSentAt string      `json:"confirm_sent_at,omitempty"`
	Consent       consentJSON `json:"consent"`
	// Feedback: the last reports about this subscriber (GET one only).
	Feedback []eventJSON `json:"feedback,omitempty"`
}

type consentJSON struct {
	Source       string `json:"source"`
	SubscribedAt string `json:"subscribed_at,omitempty"`
	IP           string `json:"ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	Text         string `json:"text,omitempty"`
	ConfirmedAt  string `json:"confirmed_at,omitempty"`
	ConfirmIP    string `json:"confirm_ip,omitempty"`
	LeftAt       string `json:"left_at,omitempty"`
	LeftHow      string `json:"left_how,omitempty"`
}

// addedJSON is the answer to adding a subscriber: the subscriber, and
// "added", "already there" or "reactivated".
type addedJSON struct {
	subscriberJSON
	Result string `json:"result"`
}

func toJSON(sub digest.Subscriber) subscriberJSON {
	c := sub.Consent
	return subscriberJSON{
		ID: sub.ID, Email: sub.Email, Name: sub.Name, Status: string(sub.Status), Format: string(sub.Format),
		ConfirmSentAt: rfc3339(sub.ConfirmSentAt),
		Consent: consentJSON{Source: c.Source, SubscribedAt: rfc3339(c.SubscribedAt), IP: c.IP, UserAgent: c.UserAgent,
			Text: c.Text, ConfirmedAt: rfc3339(c.ConfirmedAt), ConfirmIP: c.ConfirmIP, LeftAt: rfc3339(c.LeftAt), LeftHow: c.LeftHow},
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) listSubscribers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	cursor, err := queryInt(q.Get("cursor"), 0, "cursor")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	limit, err := queryInt(q.Get("limit"), 100, "limit")
	if err != nil || limit < 1 || limit > 1000 {
		s.apiError(w, r, &subscription.FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		return
	}
	page, next, err := s.subs.List(r.Context(), digest.SubscriberStatus(q.Get("status")), cursor, int(limit))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := make([]subscriberJSON, len(page))
	for i, sub := range page {
		out[i] = toJSON(sub)
	}
	body := map[string]any{"subscribers": out}
	if next != 0 {
		body["next_cursor"] = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, body)
}

func queryInt(v string, def int64, field string) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &subscription.FieldError{Field: field, Message: "must be a whole number"}
	}
	return n, nil
}

func (s *Server) getSubscriber(w http.ResponseWriter, r *http.Request) {
	sub, err := s.subs.Get(r.Context(), r.PathValue("email"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := toJSON(sub)
	if s.feedback != nil {
		evs, err := s.feedback.Recent(r.Context(), sub.ID)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		out.Feedback = eventsJSON(evs)
	}
	writeJSON(w, http.StatusOK, out)
}

type addInput struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Consent string `json:"consent"`
}

func (s *Server) addSubscriber(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	var in addInput
	if err := decodeJSON(r, &in); err != nil {
		s.apiError(w, r, err)
		return
	}
	sub, result, err := s.subs.Add(r.Context(), subscription.AddRequest{
		Email: in.Email, Name: in.Name, Status: digest.SubscriberStatus(in.Status), Consent: in.Consent,
	})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	status := http.StatusOK
	if result == subscription.AddCreated {
		status = http.StatusCreated
	}
	writeJSON(w, status, addedJSON{subscriberJSON: toJSON(sub), Result: result.String()})
}

func decodeJSON(r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return &subscription.FieldError{Field: "body", Message: "must be JSON (Content-Type: application/json)"}
	}
	if err := jsonDecode(r.Body, v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &subscription.FieldError{Field: "body", Message: "is not valid JSON: " + err.Error()}
	}
	return nil
}

func (s *Server) deleteSubscriber(w http.ResponseWriter, r *http.Request) {
	if err := s.subs.Forget(r.Context(), r.PathValue("email")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// importSubscribers streams a CSV body (text/csv) or the first file of a
// multipart upload into the store.
// longTransfer is how long an import upload or an export download may take:
// the server's usual read and write timeouts are for pages.
const longTransfer = 15 * time.Minute

func (s *Server) importSubscribers(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(longTransfer))
	_ = rc.SetWriteDeadline(time.Now().Add(longTransfer))
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBody)
	var src io.Reader
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "text/csv", "application/csv", "text/plain":
		src = r.Body
	case "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			s.apiError(w, r, &subscription.FieldError{Field: "body", Message: "is not a valid multipart upload"})
			return
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				s.apiError(w, r, &subscription.FieldError{Field: "file", Message: "the upload holds no file"})
				return
			}
			if part.FileName() != "" {
				src = part
				break
			}
		}
	default:
		s.apiError(w, r, &subscription.FieldError{Field: "body", Message: "must be CSV (Content-Type: text/csv) or a multipart upload"})
		return
	}
	rep, err := s.subs.Import(r.Context(), src, "import via API")
	if err != nil && rep.Added+rep.Existing+rep.Suppressed+rep.InvalidCount == 0 {
		s.apiError(w, r, err)
		return
	}
	if err != nil {
		// Rows before the failure are stored: say how many, with the error.
		status := statusOf(err)
		writeJSON(w, status, map[string]any{"error": s.publicMessage(r, err, status), "report": rep})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) exportSubscribers(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(longTransfer))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="subscribers.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := s.subs.Export(r.Context(), w); err != nil {
		// The status is sent already: log, and cut the response short so
		// the client sees an incomplete download, not a complete one.
		s.publicMessage(r, err, http.StatusInternalServerError)
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	counts, err := s.subs.Counts(r.Context())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	subs := make(map[string]int64, len(counts))
	var total int64
	for st, n := range counts {
		subs[string(st)] = n
		total += n
	}
	snap := s.site.Current()
	body := map[string]any{
		"subscribers": subs, "subscribers_total": total,
		"editions": len(snap.Archive),
	}
	if e := snap.LatestEdition(); e != nil {
		body["latest_edition"] = e.ID
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such API endpoint: " + r.Method + " " + r.URL.Path})
}
