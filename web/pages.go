package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/templates"
)

func (s *Server) page() templates.Page {
	return templates.Page{SiteTitle: s.cfg.Title, Links: s.links}
}

func (s *Server) showLatest(w http.ResponseWriter, r *http.Request) {
	data := s.page()
	snap := s.site.Current()
	data.Edition = snap.LatestEdition()
	data.Latest = true
	if data.Edition != nil {
		data.Older, data.Newer = neighbours(snap.Archive, data.Edition.ID)
	}
	s.render(w, r, http.StatusOK, templates.EditionPage, data)
}

func (s *Server) showEdition(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("id"), ".html")
	if _, err := digest.ParseDay(id); err != nil {
		s.notFoundMessage(w, r, "Editions are named by their day, like /editions/2026-11-27.")
		return
	}
	e, err := s.site.Edition(r.Context(), id)
	if errors.Is(err, digest.ErrNotFound) {
		s.notFoundMessage(w, r, "There is no edition for "+id+".")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	data := s.page()
	data.Edition = &e
	data.Older, data.Newer = neighbours(s.site.Current().Archive, id)
	s.render(w, r, http.StatusOK, templates.EditionPage, data)
}

// neighbours returns the editions before and after day id in archive
// (newest first), or nil where there is none.
func neighbours(archive []digest.Summary, id string) (older, newer *digest.Summary) {
	for i := range archive {
		if archive[i].ID == id {
			if i+1 < len(archive) {
				older = &archive[i+1]
			}
			if i > 0 {
				newer = &archive[i-1]
			}
			return older, newer
		}
	}
	return nil, nil
}

// favicon serves the site's icon.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodHead {
		_, _ = w.Write(templates.Favicon())
	}
}

func (s *Server) showArchive(w http.ResponseWriter, r *http.Request) {
	data := s.page()
	data.Archive = s.site.Current().Archive
	s.render(w, r, http.StatusOK, templates.ArchivePage, data)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.notFoundMessage(w, r, "")
}

func (s *Server) notFoundMessage(w http.ResponseWriter, r *http.Request, msg string) {
	data := s.page()
	data.Message = msg
	s.render(w, r, http.StatusNotFound, templates.NotFoundPage, data)
}

// serverError logs err and answers 500 without showing it to the reader.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Error("Request failed", slog.String("path", r.URL.Path), slog.Any("error", err))
	s.render(w, r, http.StatusInternalServerError, templates.ErrorPage, s.page())
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data templates.Page) {
	switch name {
	case templates.SubscribePage, templates.ConfirmPage, templates.UnsubscribePage, templates.PreferencesPage:
		data.HideSubscribeForm = true
	}
	if name == templates.ConfirmPage && data.Edition == nil {
		// A new subscriber sees the latest edition's title, with a link.
		data.Edition = s.site.Current().LatestEdition()
	}
	var buf strings.Builder
	if err := s.pages.Render(&buf, name, data); err != nil {
		s.logger.Error("Unable to render page", slog.String("page", name), slog.Any("error", err))
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	setPageSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(buf.String()))
	}
}
