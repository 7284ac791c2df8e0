package web

import (
	"net/http"

	"github.com/broadsheet-news/broadsheet/feeds"
)

// feed serves one of the current snapshot's pre-rendered feeds.
func (s *Server) feed(pick func(*feeds.Set) *feeds.Document) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := s.site.Current().Feeds
		if set == nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the feeds are not rendered yet", http.StatusServiceUnavailable)
			return
		}
		pick(set).ServeHTTP(w, r)
	})
}
