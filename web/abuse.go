package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/challenge"
	"github.com/broadsheet-news/broadsheet/templates"
)

// Limits are the per-client rate limits and single-use marks, kept in
// Redis so every instance shares them. store.Store meets it.
type Limits interface {
	// Allow takes one request of client's perMinute budget in bucket (with
	// peek, only looks), or says how long until the next is allowed.
	Allow(ctx context.Context, bucket, client string, perMinute int, peek bool) (bool, time.Duration, error)
	// UseOnce marks id used until then; false when it was used before.
	UseOnce(ctx context.Context, id string, until time.Time) (bool, error)
}

// challengeField carries a solved proof of work (the ALTCHA widget's
// hidden field; "altcha" in a JSON body too).
const challengeField = "altcha"

// challengeCSP is the page policy when the proof-of-work widget is on the
// page: its script, worker and stylesheet from this site only.
const challengeCSP = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' https: data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// siteOrigin is scheme://host[:port] of u, lower-cased, without a default
// port: the form of an Origin header.
func siteOrigin(u *url.URL) string {
	if u == nil || u.Host == "" {
		return ""
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}

// ParseOrigins reads --subscribe-origins: comma-separated origins
// (https://example.com) whose pages may embed the subscribe form.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, errors.New(strconv.Quote(part) + " is not an origin such as https://example.com")
		}
		out = append(out, siteOrigin(u))
	}
	return out, nil
}

// fromAllowedSite reports whether a form post comes from the site or from
// one of the configured origins: its Origin header, or its Referer when
// there is no Origin. A request with neither (curl, a server-side client —
// browsers send Origin with every cross-site POST) is allowed: it is still
// counted by the per-address limit. "Origin: null" (sandboxed or
// privacy-stripped pages) is not allowed.
func (s *Server) fromAllowedSite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return true
		}
		u, err := url.Parse(ref)
		if err != nil {
			return false
		}
		origin = siteOrigin(u)
	} else if u, err := url.Parse(origin); err == nil {
		origin = siteOrigin(u)
	} else {
		return false
	}
	if origin == "" {
		return false
	}
	if origin == siteOrigin(s.cfg.BaseURL) {
		return true
	}
	for _, o := range s.cfg.SubscribeOrigins {
		if origin == o {
			return true
		}
	}
	return false
}

// refuseCrossSite answers 403 to a form post from another site.
func (s *Server) refuseCrossSite(w http.ResponseWriter, r *http.Request, asJSON bool) {
	const msg = "this form may only be sent from the site's own pages"
	s.logger.Info("Cross-site form post refused", slog.String("path", r.URL.Path),
		slog.String("origin", r.Header.Get("Origin")))
	if asJSON {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": msg})
		return
	}
	data := s.page()
	data.Message = msg
	s.render(w, r, http.StatusForbidden, templates.ErrorPage, data)
}

// passes counts a request against its client's budget in bucket. Past it,
// a solved, unused proof of work (payload) lets the request through
// instead. It returns true to go on; otherwise the wait until the budget
// allows one again. When Redis does not answer, the request goes on: the
// work behind it needs Redis anyway and fails on its own.
func (s *Server) passes(r *http.Request, bucket, client string, perMinute int, payload string) (bool, time.Duration) {
	if s.limits == nil {
		return true, 0
	}
	ok, wait, err := s.limits.Allow(r.Context(), bucket, client, perMinute, false)
	if err != nil {
		s.logger.Debug("Rate limit unavailable; request let through", slog.Any("error", err))
		return true, 0
	}
	if ok {
		return true, 0
	}
	if payload == "" || s.challenges == nil {
		return false, wait
	}
	sol, err := s.challenges.Verify(payload)
	if err != nil {
		s.logger.Debug("Proof of work refused", slog.Any("error", err))
		return false, wait
	}
	first, err := s.limits.UseOnce(r.Context(), sol.ID, sol.Expires)
	if err != nil || !first {
		return false, wait
	}
	return true, 0
}

// offerChallenge answers a client past its rate: 429 with Retry-After, and
// a proof-of-work challenge that lets it through now — in the JSON body
// ("challenge", to be solved and sent back as "altcha"), or on the form
// page as the ALTCHA widget (which needs JavaScript; without it, the page
// says to send the form again after the wait).
func (s *Server) offerChallenge(w http.ResponseWriter, r *http.Request, wait time.Duration, asJSON bool, form templates.Page) {
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
	const msg = "too many subscription requests from your network; try again in a minute"
	var c *challenge.Challenge
	if s.challenges != nil {
		cc := s.challenges.New()
		c = &cc
	}
	if asJSON {
		body := map[string]any{"error": msg}
		if c != nil {
			body["challenge"] = c
		}
		writeJSON(w, http.StatusTooManyRequests, body)
		return
	}
	form.Message = msg
	if c != nil {
		b, _ := json.Marshal(c)
		form.Challenge = string(b)
		w.Header().Set("Content-Security-Policy", challengeCSP)
	}
	s.render(w, r, http.StatusTooManyRequests, templates.SubscribePage, form)
}
