package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/broadsheet-news/broadsheet/templates"
)

type loginView struct {
	Off  bool
	Next string
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(r); ok {
		http.Redirect(w, r, s.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	p := s.consolePage(session{}, "", "Log in")
	p.Data = loginView{Off: s.cfg.AdminToken == "", Next: s.safeNext(r.URL.Query().Get("next"))}
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleLogin, p)
}

// safeNext is where to go after logging in: a console path, or the
// dashboard (never another site).
func (s *Server) safeNext(next string) string {
	base := s.consoleBase()
	if !strings.HasPrefix(next, base) || strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, base+"log") {
		return base
	}
	return next
}

// login checks the admin token and opens a session. Failures are counted
// per client IP in Redis (shared by every instance) and logged; past
// maxLoginFailures in a minute, the IP waits for the window to end.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	p := s.consolePage(session{}, "", "Log in")
	view := loginView{Off: s.cfg.AdminToken == "", Next: s.safeNext(r.PostFormValue("next"))}
	p.Data = view
	if view.Off {
		s.renderConsole(w, r, http.StatusForbidden, templates.ConsoleLogin, p)
		return
	}
	ctx := r.Context()
	ip := clientIP(r, s.cfg.TrustProxy)
	failures, left, err := s.console.Sessions.LoginFailures(ctx, ip)
	if err != nil {
		s.consoleError(w, r, session{}, err)
		return
	}
	if failures >= maxLoginFailures {
		s.logger.Warn("Console login refused: too many failures", slog.String("ip", ip), slog.Int64("failures", failures))
		secs := int(left.Seconds()) + 1
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		p.Error = fmt.Sprintf("Too many failed logins from your address. Try again in %d seconds.", secs)
		s.renderConsole(w, r, http.StatusTooManyRequests, templates.ConsoleLogin, p)
		return
	}
	if !s.tokenMatches(r.PostFormValue("token")) {
		n, err := s.console.Sessions.AddLoginFailure(ctx, ip, loginWindow, maxLoginFailures)
		if err != nil {
			s.consoleError(w, r, session{}, err)
			return
		}
		s.logger.Warn("Console login failed: wrong token", slog.String("ip", ip), slog.Int64("failures_this_minute", n))
		p.Error = "That is not the admin token."
		s.renderConsole(w, r, http.StatusUnauthorized, templates.ConsoleLogin, p)
		return
	}
	id, csrf := randomToken(), randomToken()
	if err := s.console.Sessions.CreateSession(ctx, id, csrf, sessionTTL, s.now()); err != nil {
		s.consoleError(w, r, session{}, err)
		return
	}
	s.logger.Info("Console login", slog.String("ip", ip))
	http.SetCookie(w, s.sessionCookie(id, int(sessionTTL.Seconds())))
	http.Redirect(w, r, view.Next, http.StatusSeeOther)
}

func (s *Server) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: value, Path: s.consoleBase(), MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.BaseURL.Scheme == "https"}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess session) {
	if err := s.console.Sessions.DeleteSession(r.Context(), sess.id); err != nil {
		s.consoleError(w, r, sess, err)
		return
	}
	http.SetCookie(w, s.sessionCookie("", -1))
	p := s.consolePage(session{}, "", "Logged out")
	p.Data = messageView{Text: "You are logged out.", Link: s.consoleBase() + "login", LinkText: "Log in again"}
	s.renderConsole(w, r, http.StatusOK, templates.ConsoleMessage, p)
}
