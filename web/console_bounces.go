package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feedback"
	"github.com/broadsheet-news/broadsheet/templates"
)

// reportsPerPage is the length of a page of the console's reports list.
const reportsPerPage = 50

// reportRow is one report that came back, as the console shows it.
type reportRow struct {
	At, Email, Link, Kind, Edition, Source, Diagnostic string
}

type bouncesView struct {
	Kind              string
	Kinds             []feedback.Kind
	Reports           []reportRow
	FirstURL, NextURL string
}

func (s *Server) reportRows(evs []digest.FeedbackEvent) []reportRow {
	rows := make([]reportRow, len(evs))
	for i, e := range evs {
		rows[i] = reportRow{At: shortTime(e.At), Email: e.Email, Link: s.subscriberLink(e.Email), Kind: e.Kind,
			Edition: e.Edition, Source: e.Source, Diagnostic: e.Diagnostic}
	}
	return rows
}

// showBounces lists the reports that came back (bounces, complaints,
// mailto: unsubscribes), newest first: by kind, a page at a time — what
// GET /api/bounces lists.
func (s *Server) showBounces(w http.ResponseWriter, r *http.Request, sess session) {
	q := r.URL.Query()
	v := bouncesView{Kind: q.Get("kind"), Kinds: feedback.Kinds}
	status, problem := http.StatusOK, ""
	evs, next, err := s.feedback.Events(r.Context(), v.Kind, q.Get("cursor"), reportsPerPage)
	switch {
	case errors.Is(err, feedback.ErrBadKind):
		status, problem = http.StatusBadRequest, "Show only: the kind must be hard, soft, complaint or unsubscribe."
	case errors.Is(err, feedback.ErrBadCursor):
		status, problem = http.StatusBadRequest, "That page link is not one this console made: start from the first page."
	case err != nil:
		s.consoleError(w, r, sess, err)
		return
	}
	v.Reports = s.reportRows(evs)
	if next != "" {
		v.NextURL = s.consoleBase() + "bounces?" + url.Values{"kind": {v.Kind}, "cursor": {next}}.Encode()
	}
	if q.Get("cursor") != "" {
		v.FirstURL = s.consoleBase() + "bounces?" + url.Values{"kind": {v.Kind}}.Encode()
	}
	p := s.consolePage(sess, "bounces", "Bounces and complaints")
	p.Error, p.Data = problem, v
	s.renderConsole(w, r, status, templates.ConsoleBounces, p)
}
