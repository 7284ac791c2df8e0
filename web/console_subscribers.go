package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// subscribersPerPage is the length of a page of the subscribers list.
const subscribersPerPage = 50

type subscriberRow struct {
	Email, Name, Status, Format, Since, Link string
}

type subscribersView struct {
	Query, Status     string
	Statuses          []digest.SubscriberStatus
	Subscribers       []subscriberRow
	More              bool
	FirstURL, NextURL string
}

func (s *Server) subscriberLink(email string) string {
	return s.consoleBase() + "subscribers/" + url.PathEscape(email)
}

func shortTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// showSubscribers lists subscribers: by address prefix (q), by status, a
// page at a time (cursor).
func (s *Server) showSubscribers(w http.ResponseWriter, r *http.Request, sess session) {
	s.renderSubscribers(w, r, sess, http.StatusOK, "", "")
}

func (s *Server) renderSubscribers(w http.ResponseWriter, r *http.Request, sess session, status int, notice, problem string) {
	q := r.URL.Query()
	v := subscribersView{Query: q.Get("q"), Status: q.Get("status"), Statuses: digest.Statuses}
	st := digest.SubscriberStatus(v.Status)
	var page []digest.Subscriber
	var err error
	if v.Query != "" {
		page, v.More, err = s.subs.Search(r.Context(), v.Query, st, subscribersPerPage)
	} else {
		var cursor, next int64
		if cursor, err = queryInt(q.Get("cursor"), 0, "cursor"); err == nil {
			page, next, err = s.subs.List(r.Context(), st, cursor, subscribersPerPage)
		}
		if next != 0 {
			v.NextURL = s.consoleBase() + "subscribers?" + url.Values{"status": {v.Status}, "cursor": {strconv.FormatInt(next, 10)}}.Encode()
		}
		if cursor > 1 {
			v.FirstURL = s.consoleBase() + "subscribers?" + url.Values{"status": {v.Status}}.Encode()
		}
	}
	var fe *subscription.FieldError
	if errors.As(err, &fe) {
		problem, status = fe.Error(), http.StatusBadRequest
	} else if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	for _, sub := range page {
		v.Subscribers = append(v.Subscribers, subscriberRow{Email: sub.Email, Name: sub.Name, Status: string(sub.Status),
			Format: string(sub.Format), Since: shortTime(sub.Consent.SubscribedAt), Link: s.subscriberLink(sub.Email)})
	}
	p := s.consolePage(sess, "subscribers", "Subscribers")
	p.Notice, p.Error, p.Data = notice, problem, v
	s.renderConsole(w, r, status, templates.ConsoleSubscribers, p)
}

// consoleAdd adds a subscriber, then shows them.
func (s *Server) consoleAdd(w http.ResponseWriter, r *http.Request, sess session) {
	sub, _, err := s.subs.Add(r.Context(), subscription.AddRequest{
		Email: r.PostFormValue("email"), Name: r.PostFormValue("name"),
		Status: digest.SubscriberStatus(r.PostFormValue("status")), Consent: r.PostFormValue("consent"),
	})
	if err != nil {
		status := statusOf(err)
		if status == http.StatusInternalServerError {
			s.consoleError(w, r, sess, err)
			return
		}
		s.renderSubscribers(w, r, sess, status, "", "Not added: "+s.publicMessage(r, err, status))
		return
	}
	http.Redirect(w, r, s.subscriberLink(sub.Email), http.StatusSeeOther)
}

type fact struct{ Name, Value string }

type subscriberView struct {
	ID                                   int64
	Email, Name, Status, Format, Bounces string
	Consent                              []fact
	// Reports are the subscriber's last reports that came back.
	Reports  []reportRow
	EraseURL string
}

func (s *Server) showSubscriber(w http.ResponseWriter, r *http.Request, sess session) {
	sub, err := s.subs.Get(r.Context(), r.PathValue("email"))
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	c := sub.Consent
	v := subscriberView{ID: sub.ID, Email: sub.Email, Name: sub.Name, Status: string(sub.Status), Format: string(sub.Format),
		EraseURL: s.subscriberLink(sub.Email) + "/erase", Bounces: "None recorded."}
	if c.LeftHow == "bounce" {
		v.Bounces = "The address bounced on " + shortTime(c.LeftAt) + " UTC; no mail goes to it since."
	}
	if s.feedback != nil {
		evs, err := s.feedback.Recent(r.Context(), sub.ID)
		if err != nil {
			s.consoleError(w, r, sess, err)
			return
		}
		v.Reports = s.reportRows(evs)
	}
	add := func(name, value string) {
		if value != "" && value != "—" {
			v.Consent = append(v.Consent, fact{name, value})
		}
	}
	add("Source", c.Source)
	add("Subscribed", shortTime(c.SubscribedAt))
	add("From IP", c.IP)
	add("Browser", c.UserAgent)
	add("Consent text", c.Text)
	add("Confirmation mail sent", shortTime(sub.ConfirmSentAt))
	add("Confirmed", shortTime(c.ConfirmedAt))
	add("Confirmed from IP", c.ConfirmIP)
	add("Left", shortTime(c.LeftAt))
	add("How they left", c.LeftHow)
	p := s.consolePage(sess, "subscribers", sub.Email)
	p.Data = v
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleSubscriber, p)
}

func (s *Server) confirmErase(w http.ResponseWriter, r *http.Request, sess session) {
	sub, err := s.subs.Get(r.Context(), r.PathValue("email"))
	if err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	link := s.subscriberLink(sub.Email)
	p := s.consolePage(sess, "subscribers", "Erase "+sub.Email)
	p.Data = confirmView{Question: "Erase " + sub.Email + "? Everything kept of this subscriber goes, except a hash of the address that stops imports adding it again. This cannot be undone.",
		Action: link + "/erase", Button: "Erase " + sub.Email, Back: link, Danger: true}
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleConfirm, p)
}

func (s *Server) consoleErase(w http.ResponseWriter, r *http.Request, sess session) {
	email := r.PathValue("email")
	if err := s.subs.Forget(r.Context(), email); err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	p := s.consolePage(sess, "subscribers", "Subscriber erased")
	p.Data = messageView{Text: email + " is erased.", Link: s.consoleBase() + "subscribers", LinkText: "Back to subscribers"}
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleMessage, p)
}

// consoleImport imports an uploaded CSV file and shows the report. The
// form's CSRF token must come first in the upload (the form puts it
// there), so the file streams into the store without being kept.
func (s *Server) consoleImport(w http.ResponseWriter, r *http.Request, sess session) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(longTransfer))
	_ = rc.SetWriteDeadline(time.Now().Add(longTransfer))
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBody)
	mr, err := r.MultipartReader()
	if err != nil {
		s.forbidden(w, r, sess)
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "csrf" {
		s.forbidden(w, r, sess)
		return
	}
	token, _ := io.ReadAll(io.LimitReader(part, 200))
	if !sess.validCSRF(string(token)) {
		s.forbidden(w, r, sess)
		return
	}
	for {
		part, err = mr.NextPart()
		if err != nil {
			s.renderSubscribers(w, r, sess, http.StatusBadRequest, "", "Not imported: the upload holds no file.")
			return
		}
		if part.FileName() != "" {
			break
		}
	}
	rep, err := s.subs.Import(r.Context(), part, "import via the console")
	if err != nil && rep.Added+rep.Existing+rep.Suppressed+rep.InvalidCount == 0 {
		status := statusOf(err)
		if status == http.StatusInternalServerError {
			s.consoleError(w, r, sess, err)
			return
		}
		s.renderSubscribers(w, r, sess, status, "", "Not imported: "+s.publicMessage(r, err, status))
		return
	}
	p := s.consolePage(sess, "subscribers", "Import report")
	p.Data = rep
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
		p.Error = "The import stopped early; the lines before were imported: " + s.publicMessage(r, err, status)
	}
	s.renderConsole(w, r, status, templates.ConsoleImport, p)
}
