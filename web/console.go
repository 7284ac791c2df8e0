package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/templates"
)

// SessionStore keeps the console's sessions and failed-login counts, so
// that every instance shares them. store.Store meets it.
type SessionStore interface {
	CreateSession(ctx context.Context, id, csrf string, ttl time.Duration, now time.Time) error
	// Session returns the CSRF token of session id (digest.ErrNotFound
	// when there is none).
	Session(ctx context.Context, id string) (string, error)
	DeleteSession(ctx context.Context, id string) error
	AddLoginFailure(ctx context.Context, ip string, window time.Duration, limit int64) (int64, error)
	LoginFailures(ctx context.Context, ip string) (int64, time.Duration, error)
}

// Console is what the admin console needs beyond the admin API's parts.
type Console struct {
	Sessions SessionStore
	Pages    *templates.Console
	// Preview renders an edition's mail as the sample subscriber gets it.
	Preview func(digest.Edition) (publish.MailPreview, error)
	// Today returns the id of today's edition (the site's zone).
	Today func() string
}

const (
	// sessionTTL is how long a console session lasts.
	sessionTTL = 12 * time.Hour
	// sessionCookie names the console's session cookie.
	sessionCookie = "broadsheet_console"
	// maxLoginFailures failed logins from one IP in loginWindow lock it
	// out until the window ends.
	maxLoginFailures = 10
	loginWindow      = time.Minute
)

// consoleCSP lets console pages load their own stylesheet and script, and
// frame their own mail preview, and nothing else.
const consoleCSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// previewCSP serves the mail preview as a sandboxed document (no script,
// an origin of its own) that only console pages may frame.
const previewCSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

// session is a logged-in admin's session.
type session struct{ id, csrf string }

// consoleHandler is a console page that needs a session.
type consoleHandler func(w http.ResponseWriter, r *http.Request, sess session)

func (s *Server) consoleBase() string { return s.links.Base + "admin/" }

// consoleRoutes mounts the console under /admin/.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/static/{file}", s.consoleAsset)
	mux.HandleFunc("GET /admin/login", s.showLogin)
	mux.HandleFunc("POST /admin/login", s.login)
	mux.HandleFunc("POST /admin/logout", s.withSession(s.logout))
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.consoleBase(), http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /admin/{$}", s.withSession(s.showDashboard))
	mux.HandleFunc("GET /admin/", s.withSession(s.consoleNotFound))
	mux.HandleFunc("POST /admin/", s.withSession(s.consoleNotFound))
	if s.admin != nil {
		mux.HandleFunc("GET /admin/editions", s.withSession(s.showEditions))
		mux.HandleFunc("POST /admin/editions/build", s.withSession(s.consoleBuild))
		mux.HandleFunc("GET /admin/editions/{day}", s.withSession(s.showConsoleEdition))
		mux.HandleFunc("GET /admin/editions/{day}/preview", s.withSession(s.showMailPreview))
		mux.HandleFunc("POST /admin/editions/{day}/test", s.withSession(s.consoleTestSend))
		mux.HandleFunc("GET /admin/editions/{day}/send", s.withSession(s.confirmSend))
		mux.HandleFunc("POST /admin/editions/{day}/send", s.withSession(s.consoleSend))
		mux.HandleFunc("POST /admin/editions/{day}/send/{action}", s.withSession(s.consoleControl))
		mux.HandleFunc("GET /admin/editions/{day}/events", s.withSession(s.sendEvents))
	}
	if s.feedback != nil {
		mux.HandleFunc("GET /admin/bounces", s.withSession(s.showBounces))
	}
	mux.HandleFunc("GET /admin/subscribers", s.withSession(s.showSubscribers))
	mux.HandleFunc("POST /admin/subscribers", s.withSession(s.consoleAdd))
	mux.HandleFunc("GET /admin/subscribers/export", s.withSession(func(w http.ResponseWriter, r *http.Request, _ session) {
		s.exportSubscribers(w, r)
	}))
	// The import checks its CSRF token itself, from the upload's first part.
	mux.HandleFunc("POST /admin/subscribers/import", s.withSessionOnly(s.consoleImport))
	mux.HandleFunc("GET /admin/subscribers/{email}", s.withSession(s.showSubscriber))
	mux.HandleFunc("GET /admin/subscribers/{email}/erase", s.withSession(s.confirmErase))
	mux.HandleFunc("POST /admin/subscribers/{email}/erase", s.withSession(s.consoleErase))
}

// withSession runs next for a logged-in admin. Without a session a GET is
// sent to the login page and anything else is refused (403); a POST must
// carry the session's CSRF token in its form, or is refused (403) before
// anything changes.
func (s *Server) withSession(next consoleHandler) http.HandlerFunc {
	return s.withSessionOnly(func(w http.ResponseWriter, r *http.Request, sess session) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			if !sess.validCSRF(r.PostFormValue("csrf")) {
				s.forbidden(w, r, sess)
				return
			}
		}
		next(w, r, sess)
	})
}

// withSessionOnly is withSession without the CSRF check, for a handler
// that makes it itself.
func (s *Server) withSessionOnly(next consoleHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.session(r)
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, s.consoleBase()+"login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			s.forbidden(w, r, session{})
			return
		}
		next(w, r, sess)
	}
}

// session returns the request's console session, if it has a live one.
func (s *Server) session(r *http.Request) (session, bool) {
	if s.cfg.AdminToken == "" {
		return session{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return session{}, false
	}
	csrf, err := s.console.Sessions.Session(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, digest.ErrNotFound) {
			s.logger.Error("Unable to read a console session", slog.Any("error", err))
		}
		return session{}, false
	}
	return session{id: c.Value, csrf: csrf}, true
}

func (sess session) validCSRF(token string) bool {
	return token != "" && sess.csrf != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}

// tokenMatches compares a presented admin token with the configured one in
// constant time (hashes first, so the lengths do not show either).
func (s *Server) tokenMatches(got string) bool {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	have := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return s.cfg.AdminToken != "" && subtle.ConstantTimeCompare(want[:], have[:]) == 1
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.consolePage(sess, "", "Forbidden")
	p.Data = messageView{Text: "This form has expired or did not come from this console, so nothing was changed. Go back, reload the page and try again.",
		Link: s.consoleBase(), LinkText: "Back to the console"}
	if sess.id == "" {
		p.Data = messageView{Text: "You are not logged in, so nothing was changed.", Link: s.consoleBase() + "login", LinkText: "Log in"}
	}
	s.renderConsole(w, r, http.StatusForbidden, templates.ConsoleMessage, p)
}

func (s *Server) consoleNotFound(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.consolePage(sess, "", "Not found")
	p.Data = messageView{Text: "There is no such console page.", Link: s.consoleBase(), LinkText: "Back to the dashboard"}
	s.renderConsole(w, r, http.StatusNotFound, templates.ConsoleMessage, p)
}

// consoleError answers err on a console page: the message of a client
// error, a logged generic one for a server error.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, sess session, err error) {
	status := statusOf(err)
	title := "Something went wrong"
	if status == http.StatusNotFound {
		title = "Not found"
	}
	p := s.consolePage(sess, "", title)
	p.Data = messageView{Text: s.publicMessage(r, err, status), Link: s.consoleBase(), LinkText: "Back to the dashboard"}
	s.renderConsole(w, r, status, templates.ConsoleMessage, p)
}

// messageView is the data of the message page.
type messageView struct{ Text, Link, LinkText string }

// hiddenField is a hidden input of the confirmation page.
type hiddenField struct{ Name, Value string }

// confirmView is the data of the confirmation page.
type confirmView struct {
	Question, Action, Button, Back string
	Danger                         bool
	Hidden                         []hiddenField
}

func (s *Server) consolePage(sess session, section, title string) templates.ConsolePage {
	return templates.ConsolePage{SiteTitle: s.cfg.Title, Base: s.consoleBase(), Section: section, Title: title, CSRF: sess.csrf}
}

func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, status int, name string, p templates.ConsolePage) {
	var buf strings.Builder
	if err := s.console.Pages.Render(&buf, name, p); err != nil {
		s.logger.Error("Unable to render console page", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setConsoleHeaders(h, consoleCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(buf.String()))
	}
}

// setConsoleHeaders sets what every console answer carries: its CSP, no
// framing, no caching (pages show private data).
func setConsoleHeaders(h http.Header, csp string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) consoleAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, ok := templates.ConsoleAsset(name)
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	if strings.HasSuffix(name, ".css") {
		h.Set("Content-Type", "text/css; charset=utf-8")
	} else {
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	}
	_, _ = w.Write(b)
}

// randomToken returns 32 random bytes as URL-safe text.
func randomToken() string { return rand.Text() + rand.Text() }
