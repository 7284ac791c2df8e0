package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// eventJSON is a report that came back, as the admin API shows it.
type eventJSON struct {
	ID         string `json:"id,omitempty"`
	Email      string `json:"email"`
	Edition    string `json:"edition,omitempty"`
	Kind       string `json:"kind"`
	Diagnostic string `json:"diagnostic,omitempty"`
	Source     string `json:"source"`
	At         string `json:"at"`
}

func eventsJSON(evs []digest.FeedbackEvent) []eventJSON {
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = eventJSON{ID: e.ID, Email: e.Email, Edition: e.Edition, Kind: e.Kind, Diagnostic: e.Diagnostic,
			Source: e.Source, At: rfc3339(e.At)}
	}
	return out
}

// listFeedback is GET /api/bounces?kind=&cursor=&limit=.
func (s *Server) listFeedback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := queryInt(q.Get("limit"), 100, "limit")
	if err != nil || limit < 1 || limit > 1000 {
		s.apiError(w, r, &subscription.FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		return
	}
	evs, next, err := s.feedback.Events(r.Context(), q.Get("kind"), q.Get("cursor"), int(limit))
	switch {
	case errors.Is(err, feedback.ErrBadKind):
		s.apiError(w, r, &subscription.FieldError{Field: "kind", Message: "must be hard, soft, complaint or unsubscribe"})
		return
	case errors.Is(err, feedback.ErrBadCursor):
		s.apiError(w, r, &subscription.FieldError{Field: "cursor", Message: "is not a cursor this API gave"})
		return
	case err != nil:
		s.apiError(w, r, err)
		return
	}
	body := map[string]any{"events": eventsJSON(evs)}
	if next != "" {
		body["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// webhook routes POST /webhooks/{provider} to the provider's webhook,
// which checks its authenticity; one not configured is 404.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	var h http.Handler
	if s.webhooks != nil {
		h = s.webhooks.Handler(r.PathValue("provider"))
	}
	if h == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such webhook (is its secret set?)"})
		return
	}
	h.ServeHTTP(w, r)
}

// addReturned adds to a send job's status what came back about its
// edition: subscribers reports marked bounced or complained.
func (s *Server) addReturned(ctx context.Context, job map[string]any, edition string) error {
	if s.feedback == nil {
		return nil
	}
	bounced, complained, err := s.feedback.EditionCounts(ctx, edition)
	if err != nil {
		return err
	}
	job["returned"] = map[string]int64{"bounced": bounced, "complained": complained}
	return nil
}
