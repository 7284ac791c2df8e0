package web

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/feeds"
	"github.com/broadsheet-news/broadsheet/publish"
	"github.com/broadsheet-news/broadsheet/templates"
)

// Static-site links: pages at the root and pages under editions/ link with
// relative file names, so the export works from any static host or folder.
func rootLinks() templates.Links {
	return templates.Links{
		Home: "index.html", Archive: "archive.html", Favicon: templates.FaviconFile,
		RSS: feeds.RSSFile, Atom: feeds.AtomFile, JSON: feeds.JSONFile,
		EditionPrefix: "editions/", EditionSuffix: ".html",
	}
}

func editionLinks() templates.Links {
	return templates.Links{
		Home: "../index.html", Archive: "../archive.html", Favicon: "../" + templates.FaviconFile,
		RSS: "../" + feeds.RSSFile, Atom: "../" + feeds.AtomFile, JSON: "../" + feeds.JSONFile,
		EditionSuffix: ".html",
	}
}

// EditionReader reads a stored edition. publish.Publisher meets it.
type EditionReader interface {
	Edition(ctx context.Context, id string) (digest.Edition, error)
}

// Export writes the site of snap as static files under dir: feed.rss,
// feed.atom, feed.json, index.html, archive.html and editions/<id>.html
// for every kept edition. Each file is written to a temporary name and
// renamed, so a reader never sees half a file.
func Export(ctx context.Context, dir string, pages *templates.Set, title string, snap *publish.Snapshot, editions EditionReader) error {
	if err := os.MkdirAll(filepath.Join(dir, "editions"), 0o755); err != nil {
		return fmt.Errorf("web: export: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, templates.FaviconFile), templates.Favicon()); err != nil {
		return err
	}
	for name, body := range snap.Feeds.Files() {
		if err := writeFileAtomic(filepath.Join(dir, name), body); err != nil {
			return err
		}
	}
	page := func(links templates.Links) templates.Page {
		return templates.Page{SiteTitle: title, Links: links}
	}
	index := page(rootLinks())
	index.Edition, index.Latest = snap.LatestEdition(), true
	if index.Edition != nil {
		index.Older, index.Newer = neighbours(snap.Archive, index.Edition.ID)
	}
	archive := page(rootLinks())
	archive.Archive = snap.Archive
	files := []struct {
		path string
		name string
		data templates.Page
	}{
		{"index.html", templates.EditionPage, index},
		{"archive.html", templates.ArchivePage, archive},
	}
	for _, f := range files {
		if err := exportPage(filepath.Join(dir, f.path), pages, f.name, f.data); err != nil {
			return err
		}
	}
	for _, s := range snap.Archive {
		e, ok := snap.Held(s.ID)
		if !ok {
			var err error
			if e, err = editions.Edition(ctx, s.ID); err != nil {
				return err
			}
		}
		data := page(editionLinks())
		data.Edition = &e
		data.Older, data.Newer = neighbours(snap.Archive, s.ID)
		if err := exportPage(filepath.Join(dir, "editions", s.ID+".html"), pages, templates.EditionPage, data); err != nil {
			return err
		}
	}
	return nil
}

func exportPage(path string, pages *templates.Set, name string, data templates.Page) error {
	var buf bytes.Buffer
	if err := pages.Render(&buf, name, data); err != nil {
		return fmt.Errorf("web: export %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("web: export: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("web: export %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("web: export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("web: export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("web: export %s: %w", path, err)
	}
	return nil
}
