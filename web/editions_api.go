package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// EditionAdmin is what the admin API needs to build and send editions.
type EditionAdmin struct {
	// Build builds the edition of day ("" for today) from the configured
	// source.
	Build  func(ctx context.Context, day string) (publish.Result, error)
	Sender *publish.Sender
	// RememberKey binds an Idempotency-Key to a value for a day and returns
	// the value it was first bound to, and whether this call bound it.
	RememberKey func(ctx context.Context, key, value string) (string, bool, error)
	// Background outlives requests: sends started by the API run on it.
	Background context.Context
}

// BuildTimeoutError is a build from the API that did not end in time: the
// source did not answer (502).
type BuildTimeoutError struct {
	After time.Duration
	Err   error
}

func (e *BuildTimeoutError) Error() string {
	return fmt.Sprintf("the source did not answer within %s: %v", e.After, e.Err)
}

func (e *BuildTimeoutError) Unwrap() error { return e.Err }

// DefaultBuildTimeout bounds a build started from the API, so the answer
// comes before the server's write timeout (60 s).
const DefaultBuildTimeout = 55 * time.Second

// maxTestRecipients bounds POST /api/editions/{id}/test.
const maxTestRecipients = 10

func (s *Server) buildEdition(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Date string `json:"date"`
	}
	if r.ContentLength != 0 {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := decodeJSON(r, &in); err != nil {
			s.apiError(w, r, err)
			return
		}
	}
	if in.Date != "" {
		if _, err := digest.ParseDay(in.Date); err != nil {
			s.apiError(w, r, &subscription.FieldError{Field: "date", Message: "must be a day in YYYY-MM-DD form"})
			return
		}
	}
	start := s.now()
	ctx, cancel := context.WithTimeout(r.Context(), s.buildTimeout)
	defer cancel()
	res, err := s.admin.Build(ctx, in.Date)
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		err = &BuildTimeoutError{After: s.buildTimeout, Err: err}
	}
	var de *publish.DayError
	if errors.As(err, &de) {
		err = &subscription.FieldError{Field: "date", Message: de.Error()}
	}
	if err != nil {
		status := statusOf(err)
		s.logger.Warn("Build from the API failed", slog.String("date", in.Date), slog.Int("status", status),
			slog.Duration("took", s.now().Sub(start)), slog.Any("error", err))
		s.apiError(w, r, err)
		return
	}
	s.logger.Info("Build from the API", slog.String("edition", res.Edition.ID), slog.String("outcome", res.Outcome.String()),
		slog.Duration("took", s.now().Sub(start)))
	status := http.StatusOK
	if res.Outcome == digest.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{
		"edition": res.Edition.ID, "outcome": res.Outcome.String(), "title": res.Edition.Title(),
		"headlines": len(res.Edition.Page.Headlines), "updated_at": rfc3339(res.Edition.Updated),
	})
}

// jobJSON is a send job as the API shows it.
func jobJSON(j digest.SendJob) map[string]any {
	out := map[string]any{
		"edition": j.Edition, "state": j.State, "total": j.Total, "sent": j.Sent, "failed": j.Failed,
		"bounced": j.Bounced, "retrying": j.Retrying, "remaining": j.Remaining(),
		"started_at": rfc3339(j.Started), "updated_at": rfc3339(j.Updated), "finished_at": rfc3339(j.Finished),
		"rate": 0.0, "eta_seconds": nil, "catch_up": j.CatchUp, "chunks": j.Chunks, "chunks_done": j.ChunksDone,
	}
	if j.Reason != "" {
		out["reason"] = j.Reason
	}
	if rate, eta, ok := jobPace(j); ok {
		out["rate"] = rate
		if eta >= 0 {
			out["eta_seconds"] = eta
		}
	}
	return out
}

// jobPace is a job's rate (messages a second, one decimal) and, while it
// runs, the seconds it has left (-1 otherwise); ok is false before it
// started.
func jobPace(j digest.SendJob) (rate float64, eta int, ok bool) {
	secs := j.Updated.Sub(j.Started).Seconds()
	if j.Started.IsZero() || secs <= 0 {
		return 0, -1, false
	}
	r := float64(j.Sent+j.Failed) / secs
	eta = -1
	if r > 0 && j.State == digest.SendRunning {
		eta = int(math.Ceil(float64(j.Remaining()) / r))
	}
	return math.Round(r*10) / 10, eta, true
}

func (s *Server) startSend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := digest.ParseDay(id); err != nil {
		s.apiError(w, r, digest.ErrNotFound)
		return
	}
	resend := false
	if v := r.URL.Query().Get("resend_failed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.apiError(w, r, &subscription.FieldError{Field: "resend_failed", Message: "must be true or false"})
			return
		}
		resend = b
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > 200 {
			s.apiError(w, r, &subscription.FieldError{Field: "Idempotency-Key", Message: "is longer than 200 characters"})
			return
		}
		request := id + "?resend_failed=" + strconv.FormatBool(resend)
		first, fresh, err := s.admin.RememberKey(r.Context(), "send:"+key, request)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		if first != request {
			writeJSON(w, http.StatusConflict, map[string]string{"error": "this Idempotency-Key was used for another request (" + first + ")"})
			return
		}
		if !fresh {
			// A replay: answer with the job as it is, doing nothing again.
			job, err := s.admin.Sender.Status(r.Context(), id)
			if err != nil {
				s.apiError(w, r, err)
				return
			}
			writeJSON(w, http.StatusAccepted, jobJSON(job))
			return
		}
	}
	job, _, err := s.admin.Sender.Start(r.Context(), id, resend)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if job.State == digest.SendQueued || job.State == digest.SendRunning {
		s.admin.Sender.Go(s.admin.Background, id)
	}
	out := jobJSON(job)
	switch {
	case job.State == digest.SendDone && !resend:
		// Sent already, and nobody joined since: a catch-up found no one.
		out["message"] = "the edition was sent and no active subscriber joined since: nothing to send"
	case job.CatchUp > 0 && job.State != digest.SendDone:
		out["message"] = fmt.Sprintf("sending to the %d active subscriber(s) who joined since it was sent", job.CatchUp)
	}
	writeJSON(w, http.StatusAccepted, out)
}

func (s *Server) sendStatus(w http.ResponseWriter, r *http.Request) {
	job, err := s.admin.Sender.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := jobJSON(job)
	if err := s.addReturned(r.Context(), out, job.Edition); err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) controlSend(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if action != "pause" && action != "resume" && action != "cancel" {
		s.apiNotFound(w, r)
		return
	}
	job, err := s.admin.Sender.Control(r.Context(), id, action)
	if errors.Is(err, publish.ErrJobState) {
		writeJSON(w, http.StatusConflict, map[string]any{"error": "cannot " + action + " a send job that is " + string(job.State), "job": jobJSON(job)})
		return
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if action == "resume" {
		s.admin.Sender.Go(s.admin.Background, id)
	}
	writeJSON(w, http.StatusOK, jobJSON(job))
}

func (s *Server) sendTest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	var in struct {
		To []string `json:"to"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.apiError(w, r, err)
		return
	}
	if len(in.To) == 0 || len(in.To) > maxTestRecipients {
		s.apiError(w, r, &subscription.FieldError{Field: "to", Message: "must list 1 to 10 addresses"})
		return
	}
	for i, to := range in.To {
		email, err := digest.NormalizeEmail(to)
		if err != nil {
			s.apiError(w, r, &subscription.FieldError{Field: "to", Message: err.Error()})
			return
		}
		in.To[i] = email
	}
	e, err := s.site.Edition(r.Context(), r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	n, err := s.admin.Sender.SendTest(r.Context(), e, in.To)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sent": n, "to": in.To})
}
