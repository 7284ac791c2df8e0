package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// statusOf maps an error to its HTTP status: the one place that does.
func statusOf(err error) int {
	var fe *subscription.FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, subscription.ErrInvalidToken), errors.Is(err, digest.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, subscription.ErrExpired):
		return http.StatusGone
	case errors.Is(err, digest.ErrSuppressed), errors.Is(err, digest.ErrLedgerGone), errors.Is(err, digest.ErrNoAudience):
		return http.StatusConflict
	case digest.IsSourceError(err), errors.Is(err, digest.ErrEmptyEdition):
		return http.StatusUnprocessableEntity
	}
	var fetch *digest.FetchError
	var timeout *BuildTimeoutError
	if errors.As(err, &fetch) || errors.As(err, &timeout) {
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// publicMessage is what a client may read of err: the message of a client
// error, a generic sentence for a server error (which is logged instead).
func (s *Server) publicMessage(r *http.Request, err error, status int) string {
	if status == http.StatusInternalServerError {
		s.logger.Error("Request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
		return "internal error; it has been logged"
	}
	var fe *subscription.FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		return fe.Error()
	case errors.As(err, &mbe):
		return "the request body is too large"
	case status == http.StatusNotFound:
		return "not found"
	case errors.Is(err, digest.ErrSuppressed):
		return "this address was erased at its owner's request and cannot be added again"
	case errors.Is(err, subscription.ErrExpired):
		return "the confirmation link has expired"
	case errors.Is(err, digest.ErrEmptyEdition):
		return "the edition has no headlines: it is not sent"
	case errors.Is(err, digest.ErrLedgerGone):
		return digest.ErrLedgerGone.Error()
	case errors.Is(err, digest.ErrNoAudience):
		return digest.ErrNoAudience.Error() + ": no send job was made"
	}
	var timeout *BuildTimeoutError
	if errors.As(err, &timeout) {
		return fmt.Sprintf("the source did not answer within %s", timeout.After)
	}
	var se *digest.SourceError
	if errors.As(err, &se) {
		return "the source cannot be read as a front page: " + se.Reason
	}
	var fetch *digest.FetchError
	if errors.As(err, &fetch) {
		return "the source could not be fetched: " + fetch.Reason
	}
	// Every client error has a case above: an unknown one says nothing of
	// the internals.
	return http.StatusText(status)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError answers err as {"error": "…"} (and "field" for a bad field).
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	body := map[string]string{"error": s.publicMessage(r, err, status)}
	var fe *subscription.FieldError
	if errors.As(err, &fe) {
		body["field"] = fe.Field
	}
	writeJSON(w, status, body)
}

// pageError answers err as an HTML page.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	switch status := statusOf(err); status {
	case http.StatusNotFound:
		s.notFoundMessage(w, r, "This link is not valid. If you copied it from a mail, check that it is whole.")
	case http.StatusInternalServerError:
		s.serverError(w, r, err)
	default:
		data := s.page()
		data.Message = s.publicMessage(r, err, status)
		s.render(w, r, status, "error", data)
	}
}

func jsonDecode(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
