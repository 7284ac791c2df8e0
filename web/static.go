package web

import (
	"embed"
	"io/fs"
	"net/http"
)

// AltchaVersion is the version of the npm package altcha whose widget is
// served under /static/altcha/.
const AltchaVersion = "2.3.0"

//go:embed static/altcha/altcha.js static/altcha/worker.js static/altcha/altcha.css
var staticFiles embed.FS

// staticHandler serves the site's own static assets (the proof-of-work
// widget), cached for a day.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFiles, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		files.ServeHTTP(w, r)
	})
}
