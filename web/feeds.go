package web

import (
	"net/http"

	"github.com/broadsheet-news/broadsheet/feeds"
)

// feed serves one of the current snapshot's pre-rendered feeds.
func (s *Server) feed(name string, pick func(*feeds.Set) *feeds.Document) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := s.site.Current().Feeds
		if set == nil {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "the feeds are not rendered yet", http.StatusServiceUnavailable)
			s.countFeed(name, http.StatusServiceUnavailable)
			return
		}
		s.countFeed(name, pick(set).Serve(w, r))
	})
}

func (s *Server) countFeed(name string, status int) {
	if s.metrics != nil {
		s.metrics.FeedRequest(name, status)
	}
}
