package web

import (
	"log/slog"
	"net/http"
	"runtime/debug"
)

// contentSecurityPolicy allows the pages' inline style and nothing active.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setPageSecurityHeaders sets the headers every HTML page carries.
func setPageSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
	}
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
}

// recoverPanics turns a panic in a handler into a logged 500, so no stack
// trace reaches a reader.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.Error("Handler panicked", slog.String("path", r.URL.Path),
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				http.Error(w, "internal server error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
