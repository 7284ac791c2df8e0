package publish

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/templates"
)

// PageRenderer renders a web page. templates.Set meets it.
type PageRenderer interface {
	Render(w io.Writer, name string, data templates.Page) error
}

// Static-site links: pages at the root and pages under editions/ link with
// relative file names, so the export works from any static host or folder.
var (
	rootLinks = templates.Links{
		Home: "index.html", Archive: "archive.html",
		RSS: "feed.rss", Atom: "feed.atom", JSON: "feed.json",
		EditionPrefix: "editions/", EditionSuffix: ".html",
	}
	editionLinks = templates.Links{
		Home: "../index.html", Archive: "../archive.html",
		RSS: "../feed.rss", Atom: "../feed.atom", JSON: "../feed.json",
		EditionSuffix: ".html",
	}
)

// Export writes the site of snap as static files under dir: feed.rss,
// feed.atom, feed.json, index.html, archive.html and editions/<id>.html
// for every kept edition. Each file is written to a temporary name and
// renamed, so a reader never sees half a file.
func (p *Publisher) Export(ctx context.Context, dir string, pages PageRenderer, snap *Snapshot) error {
	if err := os.MkdirAll(filepath.Join(dir, "editions"), 0o755); err != nil {
		return fmt.Errorf("publish: export: %w", err)
	}
	for name, body := range snap.Feeds.Files() {
		if err := writeFileAtomic(filepath.Join(dir, name), body); err != nil {
			return err
		}
	}
	page := func(links templates.Links) templates.Page {
		return templates.Page{SiteTitle: p.cfg.Title, Links: links}
	}
	index := page(rootLinks)
	index.Edition, index.Latest = snap.LatestEdition(), true
	archive := page(rootLinks)
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
		if err := p.exportPage(filepath.Join(dir, f.path), pages, f.name, f.data); err != nil {
			return err
		}
	}
	for _, s := range snap.Archive {
		e, err := p.editionFrom(ctx, snap, s.ID)
		if err != nil {
			return err
		}
		data := page(editionLinks)
		data.Edition = &e
		if err := p.exportPage(filepath.Join(dir, "editions", s.ID+".html"), pages, templates.EditionPage, data); err != nil {
			return err
		}
	}
	return nil
}

func (p *Publisher) editionFrom(ctx context.Context, snap *Snapshot, id string) (digest.Edition, error) {
	for _, e := range snap.Latest {
		if e.ID == id {
			return e, nil
		}
	}
	return p.Edition(ctx, id)
}

func (p *Publisher) exportPage(path string, pages PageRenderer, name string, data templates.Page) error {
	var buf bytes.Buffer
	if err := pages.Render(&buf, name, data); err != nil {
		return fmt.Errorf("publish: export %s: %w", path, err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("publish: export: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("publish: export %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("publish: export %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("publish: export %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("publish: export %s: %w", path, err)
	}
	return nil
}
