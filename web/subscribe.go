package web

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
	"github.com/broadsheet-news/broadsheet/templates"
)

// maxFormBody bounds the body of a public form post.
const maxFormBody = 64 << 10

// subscribeTimeout bounds the work of one subscription (store and mail),
// which goes on when the client hangs up.
const subscribeTimeout = 30 * time.Second

// honeypotField is a form field hidden from people: a bot that fills it in
// is answered as if it had subscribed, and nothing happens.
const honeypotField = "website"

func (s *Server) showSubscribeForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, templates.SubscribePage, s.page())
}

// subscribeInput is POST /subscribe's body, as JSON or form fields.
type subscribeInput struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Honeypot string `json:"website"`
	// Challenge is a solved proof of work, sent when the rate was passed.
	Challenge string `json:"altcha"`
}

// wantsJSON reports whether to answer in JSON: the request sent JSON or
// asks for it.
func wantsJSON(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/json" || strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	asJSON := wantsJSON(r)
	fail := func(err error) {
		if asJSON {
			s.apiError(w, r, err)
			return
		}
		var fe *subscription.FieldError
		if errors.As(err, &fe) {
			data := s.page()
			data.FieldErrors = map[string]string{fe.Field: fe.Message}
			data.Email, data.Name = r.PostFormValue("email"), r.PostFormValue("name")
			s.render(w, r, http.StatusBadRequest, templates.SubscribePage, data)
			return
		}
		s.pageError(w, r, err)
	}
	if !s.fromAllowedSite(r) {
		s.refuseCrossSite(w, r, asJSON)
		return
	}
	addr := clientAddr(r, s.cfg.TrustProxy)
	ip := clientIP(r, s.cfg.TrustProxy)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	in, err := readSubscribeInput(r)
	if err != nil {
		fail(err)
		return
	}
	if ok, wait := s.passes(r, "subscribe", limitKey(addr), s.cfg.SubscribeRate, in.Challenge); !ok {
		form := s.page()
		form.Email, form.Name = in.Email, in.Name
		s.offerChallenge(w, r, wait, asJSON, form)
		return
	}
	if in.Honeypot == "" {
		// Finish what was started even if the client hangs up: a
		// subscriber stored without their confirmation mail would wait a
		// day for the next one.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), subscribeTimeout)
		defer cancel()
		err = s.subs.Subscribe(ctx, subscription.SubscribeRequest{
			Email: in.Email, Name: in.Name, IP: ip, UserAgent: r.UserAgent(),
		})
		if err != nil {
			fail(err)
			return
		}
	}
	// The same answer whether or not the address was known.
	if asJSON {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "message": "Check your inbox: a confirmation link is on its way."})
		return
	}
	data := s.page()
	data.Outcome = "sent"
	s.render(w, r, http.StatusOK, templates.SubscribePage, data)
}

func readSubscribeInput(r *http.Request) (subscribeInput, error) {
	var in subscribeInput
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&in); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return in, err
			}
			return in, &subscription.FieldError{Field: "body", Message: "is not a JSON object with an email"}
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := parseForm(r); err != nil {
			return in, err
		}
		in = subscribeInput{Email: r.PostFormValue("email"), Name: r.PostFormValue("name"),
			Honeypot: r.PostFormValue(honeypotField), Challenge: r.PostFormValue(challengeField)}
	default:
		return in, &subscription.FieldError{Field: "body", Message: "must be a form or JSON"}
	}
	return in, nil
}

// parseForm parses a urlencoded or multipart form (multipart parts in
// memory only: the body is already capped).
func parseForm(r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(maxFormBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &subscription.FieldError{Field: "body", Message: "is not a valid form"}
	}
	return nil
}

// showConfirm shows the publication's name and one "Confirm my
// subscription" button. A GET (or HEAD) changes nothing: mail scanners
// open every link, and an address someone else typed in must not be
// confirmed by its mail server's link checker.
func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request) {
	s.confirmPage(w, r, s.subs.ConfirmState)
}

// confirm confirms the subscription: the button's POST.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	s.confirmPage(w, r, func(ctx context.Context, token string) (subscription.ConfirmOutcome, error) {
		return s.subs.Confirm(ctx, token, clientIP(r, s.cfg.TrustProxy))
	})
}

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (subscription.ConfirmOutcome, error)) {
	token := r.PathValue("token")
	outcome, err := do(r.Context(), token)
	data := s.page()
	data.Token = token
	switch {
	case errors.Is(err, subscription.ErrExpired):
		data.Outcome = "expired"
		s.render(w, r, statusOf(err), templates.ConfirmPage, data)
		return
	case err != nil:
		s.pageError(w, r, err)
		return
	}
	data.Outcome = map[subscription.ConfirmOutcome]string{
		subscription.Confirmed: "confirmed", subscription.AlreadyConfirmed: "already", subscription.NotConfirmable: "not-confirmable",
		subscription.Confirmable: "ask",
	}[outcome]
	s.render(w, r, http.StatusOK, templates.ConfirmPage, data)
}

func (s *Server) resendConfirmation(w http.ResponseWriter, r *http.Request) {
	if !s.fromAllowedSite(r) {
		s.refuseCrossSite(w, r, false)
		return
	}
	if ok, wait := s.passes(r, "subscribe", limitKey(clientAddr(r, s.cfg.TrustProxy)), s.cfg.SubscribeRate, ""); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		data := s.page()
		data.Message = "too many requests from your network; try again in a minute"
		s.render(w, r, http.StatusTooManyRequests, templates.ErrorPage, data)
		return
	}
	token := r.PathValue("token")
	if err := s.subs.ResendConfirmation(r.Context(), token); err != nil {
		s.pageError(w, r, err)
		return
	}
	data := s.page()
	data.Outcome = "resent"
	s.render(w, r, http.StatusOK, templates.ConfirmPage, data)
}

// showUnsubscribe shows the one button. A GET changes nothing: mail
// scanners open links.
func (s *Server) showUnsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sub, err := s.subs.SubscriberFor(r.Context(), subscription.PurposeUnsubscribe, token)
	data := s.page()
	data.Token = token
	switch {
	case errors.Is(err, subscription.ErrUnavailable):
		// Redis is away: the button still works (its action is spooled).
	case err != nil:
		s.pageError(w, r, err)
		return
	default:
		data.Subscriber = &sub
		if sub.Status != digest.Active && sub.Status != digest.Pending {
			data.Outcome = "unsubscribed"
		}
	}
	s.render(w, r, http.StatusOK, templates.UnsubscribePage, data)
}

// unsubscribe is the button's POST and RFC 8058 one-click: 200, no
// redirect, no cookie; again is still 200.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	how := "link"
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" {
		if err := parseForm(r); err != nil {
			s.pageError(w, r, err)
			return
		}
		if r.PostFormValue("List-Unsubscribe") == "One-Click" {
			how = "one-click"
		}
	}
	sub, err := s.subs.Unsubscribe(r.Context(), subscription.PurposeUnsubscribe, r.PathValue("token"), how)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := s.page()
	data.Outcome = "unsubscribed"
	if sub.Email != "" { // empty: spooled while Redis is away
		data.Subscriber = &sub
	}
	s.render(w, r, http.StatusOK, templates.UnsubscribePage, data)
}

func (s *Server) showPreferences(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sub, err := s.subs.SubscriberFor(r.Context(), subscription.PurposePreferences, token)
	if errors.Is(err, subscription.ErrUnavailable) {
		// Redis is away: offer the choices anyway (a change is spooled).
		sub.Status, sub.Format, err = digest.Active, "", nil
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := s.page()
	data.Token, data.Subscriber = token, &sub
	s.render(w, r, http.StatusOK, templates.PreferencesPage, data)
}

func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := parseForm(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	token := r.PathValue("token")
	var sub digest.Subscriber
	var err error
	outcome := "saved"
	if r.PostFormValue("action") == "unsubscribe" {
		outcome = "unsubscribed"
		sub, err = s.subs.Unsubscribe(r.Context(), subscription.PurposePreferences, token, "preferences")
	} else {
		sub, err = s.subs.SetFormat(r.Context(), token, digest.MailFormat(r.PostFormValue("format")))
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := s.page()
	data.Token, data.Subscriber, data.Outcome = token, &sub, outcome
	s.render(w, r, http.StatusOK, templates.PreferencesPage, data)
}
