package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// editionRow is an edition in a console table.
type editionRow struct {
	ID, Title, Link       string
	State                 string
	Sent, Failed, Bounced int64
}

// editionRows lists the newest n editions of the archive with their send
// jobs (one Redis read each).
func (s *Server) editionRows(r *http.Request, n int) ([]editionRow, error) {
	archive := s.site.Current().Archive
	rows := make([]editionRow, 0, min(n, len(archive)))
	for _, e := range archive[:min(n, len(archive))] {
		row := editionRow{ID: e.ID, Title: e.Title, Link: s.consoleBase() + "editions/" + e.ID, State: "not sent"}
		if s.admin != nil {
			job, err := s.admin.Sender.Status(r.Context(), e.ID)
			switch {
			case err == nil:
				row.State, row.Sent, row.Failed, row.Bounced = string(job.State), job.Sent, job.Failed, job.Bounced
			case !errors.Is(err, digest.ErrNotFound):
				return nil, err
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// buildView is what a build from the console did.
type buildView struct {
	Edition, Outcome string
	Headlines        int
	Error            string
}

type editionsView struct {
	Today    string
	Build    *buildView
	Editions []editionRow
}

func (s *Server) showEditions(w http.ResponseWriter, r *http.Request, sess session) {
	s.renderEditions(w, r, sess, http.StatusOK, nil)
}

func (s *Server) renderEditions(w http.ResponseWriter, r *http.Request, sess session, status int, build *buildView) {
	rows, err := s.editionRows(r, 30)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	p := s.consolePage(sess, "editions", "Editions")
	p.Data = editionsView{Today: s.console.Today(), Build: build, Editions: rows}
	s.renderConsole(w, r, status, templates.ConsoleEditions, p)
}

// consoleBuild builds an edition now and shows what happened: created,
// updated, unchanged, or the source's error.
func (s *Server) consoleBuild(w http.ResponseWriter, r *http.Request, sess session) {
	day := strings.TrimSpace(r.PostFormValue("date"))
	if day != "" {
		if _, err := digest.ParseDay(day); err != nil {
			s.renderEditions(w, r, sess, http.StatusBadRequest, &buildView{Error: "the day must be in YYYY-MM-DD form"})
			return
		}
	}
	res, err := s.admin.Build(r.Context(), day)
	if err != nil {
		status := statusOf(err)
		s.renderEditions(w, r, sess, status, &buildView{Edition: day, Error: s.publicMessage(r, err, status)})
		return
	}
	// The site's snapshot follows the store's announcement; refresh this
	// instance's view now so the table shows the new edition.
	if ch, ok := s.site.(interface{ Changed(context.Context) }); ok {
		ch.Changed(r.Context())
	}
	s.renderEditions(w, r, sess, http.StatusOK, &buildView{Edition: res.Edition.ID, Outcome: res.Outcome.String(),
		Headlines: len(res.Edition.Page.Headlines)})
}

// jobView is a send job as the edition page shows it.
type jobView struct {
	State, Reason                          string
	Total, Sent, Failed, Bounced, Retrying int64
	Done                                   int64
	Rate, ETA                              string
}

func toJobView(j digest.SendJob) *jobView {
	v := &jobView{State: string(j.State), Reason: j.Reason, Total: j.Total, Sent: j.Sent, Failed: j.Failed,
		Bounced: j.Bounced, Retrying: j.Retrying, Done: j.Sent + j.Failed, Rate: "0", ETA: "—"}
	if rate, eta, ok := jobPace(j); ok {
		v.Rate = fmt.Sprint(rate)
		if eta >= 0 {
			v.ETA = etaText(eta)
		}
	}
	return v
}

// etaText writes seconds left as console.js does: "42 s", "3 min 5 s",
// "2 h 10 min".
func etaText(secs int) string {
	switch m := secs / 60; {
	case secs < 60:
		return fmt.Sprintf("%d s", secs)
	case m < 60:
		return fmt.Sprintf("%d min %d s", m, secs%60)
	default:
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
}

type editionView struct {
	ID, Title, Updated, PublicURL string
	Headlines                     int
	Job                           *jobView
	Active                        int64
	Live                          bool
	EventsURL, SelfURL            string
	CanSend, CanPause, CanResume  bool
	CanCancel, CanResend          bool
	SendURL, ControlURL, TestURL  string
	PreviewURL                    string
	Preview                       *publish.MailPreview
	PreviewError                  string
	TestTo, TestResult, TestError string
}

// editionPage gathers the edition page of day, or answers an error and
// returns false.
func (s *Server) editionPage(w http.ResponseWriter, r *http.Request, sess session) (templates.ConsolePage, *editionView, bool) {
	day := r.PathValue("day")
	if _, err := digest.ParseDay(day); err != nil {
		s.consoleError(w, r, sess, digest.ErrNotFound)
		return templates.ConsolePage{}, nil, false
	}
	e, err := s.site.Edition(r.Context(), day)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return templates.ConsolePage{}, nil, false
	}
	self := s.consoleBase() + "editions/" + day
	v := &editionView{ID: day, Title: e.Title(), Headlines: len(e.Page.Headlines), Updated: e.Updated.UTC().Format("2006-01-02 15:04 UTC"),
		PublicURL: s.links.Edition(day), SelfURL: self, EventsURL: self + "/events", SendURL: self + "/send",
		ControlURL: self + "/send/", TestURL: self + "/test", PreviewURL: self + "/preview"}
	counts, err := s.subs.Counts(r.Context())
	if err != nil {
		s.consoleError(w, r, sess, err)
		return templates.ConsolePage{}, nil, false
	}
	v.Active = counts[digest.Active]
	job, err := s.admin.Sender.Status(r.Context(), day)
	switch {
	case errors.Is(err, digest.ErrNotFound):
		v.CanSend = true
	case err != nil:
		s.consoleError(w, r, sess, err)
		return templates.ConsolePage{}, nil, false
	default:
		v.Job = toJobView(job)
		running := job.State == digest.SendRunning || job.State == digest.SendQueued
		v.Live, v.CanPause = running, running
		v.CanResume = job.State == digest.SendPaused
		v.CanCancel = running || job.State == digest.SendPaused
		v.CanResend = (job.State == digest.SendDone || job.State == digest.SendCancelled) && job.Failed+job.Remaining() > 0
	}
	if mp, err := s.console.Preview(e); err != nil {
		v.PreviewError = s.publicMessage(r, err, statusOf(err))
	} else {
		v.Preview = &mp
	}
	p := s.consolePage(sess, "editions", "Edition "+day)
	if v.Live {
		p.Refresh, p.Script = 3, true
	}
	p.Data = v
	return p, v, true
}

func (s *Server) showConsoleEdition(w http.ResponseWriter, r *http.Request, sess session) {
	if p, _, ok := s.editionPage(w, r, sess); ok {
		s.renderConsole(w, r, http.StatusOK, templates.ConsoleEdition, p)
	}
}

// showMailPreview serves the HTML part of the mail alone, for the edition
// page's sandboxed iframe: sandboxed by its own CSP too, framable only by
// the console.
func (s *Server) showMailPreview(w http.ResponseWriter, r *http.Request, sess session) {
	day := r.PathValue("day")
	if _, err := digest.ParseDay(day); err != nil {
		s.consoleError(w, r, sess, digest.ErrNotFound)
		return
	}
	e, err := s.site.Edition(r.Context(), day)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	mp, err := s.console.Preview(e)
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	h := w.Header()
	setConsoleHeaders(h, previewCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(mp.HTML))
}

// testAddresses splits the test form's addresses (lines, commas or
// spaces) and checks each.
func testAddresses(in string) ([]string, error) {
	fields := strings.FieldsFunc(in, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(fields) == 0 || len(fields) > maxTestRecipients {
		return nil, &subscription.FieldError{Field: "to", Message: "must list 1 to 10 addresses"}
	}
	out := make([]string, len(fields))
	for i, f := range fields {
		email, err := digest.NormalizeEmail(f)
		if err != nil {
			return nil, &subscription.FieldError{Field: "to", Message: err.Error()}
		}
		out[i] = email
	}
	return out, nil
}

func (s *Server) consoleTestSend(w http.ResponseWriter, r *http.Request, sess session) {
	p, v, ok := s.editionPage(w, r, sess)
	if !ok {
		return
	}
	v.TestTo = r.PostFormValue("to")
	status := http.StatusOK
	to, err := testAddresses(v.TestTo)
	if err == nil {
		var e digest.Edition
		if e, err = s.site.Edition(r.Context(), v.ID); err == nil {
			var n int
			n, err = s.admin.Sender.SendTest(r.Context(), e, to)
			if err == nil {
				v.TestResult = fmt.Sprintf("Sent %d test message(s) to %s.", n, strings.Join(to, ", "))
			}
		}
	}
	if err != nil {
		status = statusOf(err)
		v.TestError = "The test was not sent: " + s.publicMessage(r, err, status)
		if status == http.StatusInternalServerError {
			status = http.StatusBadGateway
		}
	}
	s.renderConsole(w, r, status, templates.ConsoleEdition, p)
}

// confirmSend asks before a send: it names how many will get it.
func (s *Server) confirmSend(w http.ResponseWriter, r *http.Request, sess session) {
	_, v, ok := s.editionPage(w, r, sess)
	if !ok {
		return
	}
	resend := r.URL.Query().Get("resend_failed") == "1"
	c := confirmView{Action: v.SendURL, Back: v.SelfURL, Button: "Send now"}
	switch {
	case resend && v.Job != nil:
		c.Question = fmt.Sprintf("Send edition %s again to the %d subscribers who did not get it?", v.ID, v.Job.Failed+max(v.Job.Total-v.Job.Done, 0))
		c.Hidden = []hiddenField{{"resend_failed", "1"}}
	case v.Job != nil:
		c.Question = fmt.Sprintf("Edition %s has a send job already (%s).", v.ID, v.Job.State)
	default:
		c.Question = fmt.Sprintf("Send edition %s (%s) to %d active subscribers now?", v.ID, v.Title, v.Active)
	}
	p := s.consolePage(sess, "editions", "Send edition "+v.ID)
	p.Data = c
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleConfirm, p)
}

// consoleSend starts the send (or the resend of those who did not get
// it), runs it in the background as the API does, and shows its progress.
func (s *Server) consoleSend(w http.ResponseWriter, r *http.Request, sess session) {
	day := r.PathValue("day")
	if _, err := digest.ParseDay(day); err != nil {
		s.consoleError(w, r, sess, digest.ErrNotFound)
		return
	}
	job, _, err := s.admin.Sender.Start(r.Context(), day, r.PostFormValue("resend_failed") == "1")
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	if job.State == digest.SendQueued || job.State == digest.SendRunning {
		s.admin.Sender.Go(s.admin.Background, day)
	}
	http.Redirect(w, r, s.consoleBase()+"editions/"+day, http.StatusSeeOther)
}

// consoleControl pauses, resumes or cancels a send.
func (s *Server) consoleControl(w http.ResponseWriter, r *http.Request, sess session) {
	day, action := r.PathValue("day"), r.PathValue("action")
	if action != "pause" && action != "resume" && action != "cancel" {
		s.consoleNotFound(w, r, sess)
		return
	}
	if _, err := s.admin.Sender.Control(r.Context(), day, action); err != nil {
		if errors.Is(err, publish.ErrJobState) {
			p := s.consolePage(sess, "editions", "Not possible")
			p.Data = messageView{Text: "The send could not be " + map[string]string{"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action] + ": " + err.Error() + ".",
				Link: s.consoleBase() + "editions/" + day, LinkText: "Back to the edition"}
			s.renderConsole(w, r, http.StatusConflict, templates.ConsoleMessage, p)
			return
		}
		s.consoleError(w, r, sess, err)
		return
	}
	if action == "resume" {
		s.admin.Sender.Go(s.admin.Background, day)
	}
	http.Redirect(w, r, s.consoleBase()+"editions/"+day, http.StatusSeeOther)
}
