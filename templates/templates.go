// Package templates holds broadsheet's embedded web templates and renders
// them: the public pages and the edition fragment that feeds carry.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

//go:embed web/*.html web/favicon.svg
var embedded embed.FS

// FaviconFile is the name the site's icon is served and exported as.
const FaviconFile = "favicon.svg"

// Favicon returns the site's icon, an SVG.
func Favicon() []byte {
	b, _ := embedded.ReadFile("web/" + FaviconFile) // embedded: always there
	return b
}

// Page names accepted by Set.Render.
const (
	EditionPage  = "edition"
	ArchivePage  = "archive"
	NotFoundPage = "notfound"
	ErrorPage    = "error"
	// Subscription pages.
	SubscribePage   = "subscribe"
	ConfirmPage     = "confirm"
	UnsubscribePage = "unsubscribe"
	PreferencesPage = "preferences"
)

var pageNames = []string{EditionPage, ArchivePage, NotFoundPage, ErrorPage,
	SubscribePage, ConfirmPage, UnsubscribePage, PreferencesPage}

// Set is the parsed templates, safe for concurrent use.
type Set struct {
	pages    map[string]*template.Template
	fragment *template.Template
}

// New parses the embedded templates. Every page is parsed here, so a broken
// template fails at start, not on a request.
func New() (*Set, error) {
	return parse(embedded)
}

func parse(fsys fs.FS) (*Set, error) {
	s := &Set{pages: make(map[string]*template.Template, len(pageNames))}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, "web/layout.html", "web/fragment.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	for _, name := range pageNames {
		clone, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		t, err := clone.ParseFS(fsys, "web/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		s.pages[name] = t
	}
	s.fragment = base.Lookup("edition-body")
	if s.fragment == nil {
		return nil, fmt.Errorf("templates: web/fragment.html does not define \"edition-body\"")
	}
	return s, nil
}

// Links are the addresses a page links to. The server uses clean absolute
// paths; the static export uses relative file names.
type Links struct {
	// Base is the site's root path ("/" or "/news/"); subscription pages
	// live under it.
	Base string
	// Site is the site's absolute URL ("https://news.example.com/"), for
	// canonical links and Open Graph tags; "" leaves those out.
	Site            string
	Home, Archive   string
	Favicon         string
	RSS, Atom, JSON string
	// An edition's page is EditionPrefix + ID + EditionSuffix.
	EditionPrefix, EditionSuffix string
}

// Edition returns the address of the page of edition id.
func (l Links) Edition(id string) string { return l.EditionPrefix + id + l.EditionSuffix }

// Page is the data every page template receives.
type Page struct {
	SiteTitle string
	Links     Links
	// Edition is the edition shown (edition page); nil when none exists yet.
	Edition *digest.Edition
	// Latest tells the edition page it shows the newest edition.
	Latest bool
	// Older and Newer are the editions before and after the one shown.
	Older, Newer *digest.Summary
	// Archive lists editions, newest first (archive page).
	Archive []digest.Summary
	// Message explains an error or a missing page.
	Message string

	// Subscription pages: the subscriber a link names, the link's token,
	// what the request did (Outcome), and the form's values and errors.
	Subscriber  *digest.Subscriber
	Token       string
	Outcome     string
	Email, Name string
	FieldErrors map[string]string
	// HideSubscribeForm leaves out the form at the foot of the page (the
	// subscription pages have their own, or none).
	HideSubscribeForm bool
	// Challenge, on a subscribe form past the rate limit, is the
	// proof-of-work challenge (JSON) the ALTCHA widget solves.
	Challenge string
}

// Canonical is the edition page's absolute URL ("" on other pages, or
// when the site's URL is unknown): the home page's for the latest
// edition shown at home, the edition's own page otherwise.
func (p Page) Canonical() string {
	if p.Edition == nil || p.Links.Site == "" {
		return ""
	}
	if p.Latest {
		return p.Links.Site
	}
	return p.Links.Site + "editions/" + p.Edition.ID
}

// maxDescription bounds a page's meta description, in characters (search
// engines show about 155).
const maxDescription = 160

// Description is the page's <meta name="description">: the edition's lead
// paragraph, cut at a word near 160 characters, or a line about the site.
func (p Page) Description() string {
	if p.Edition != nil {
		if d := strings.Join(strings.Fields(p.Edition.Summary()), " "); d != "" {
			if r := []rune(d); len(r) > maxDescription {
				d = string(r[:maxDescription])
				if i := strings.LastIndexByte(d, ' '); i > maxDescription/2 {
					d = d[:i]
				}
				d = strings.TrimRight(d, " ,;:.") + "…"
			}
			return d
		}
	}
	return "The daily edition of " + p.SiteTitle + ": the day's headlines and its lead story, on the web, by feed and by mail."
}

// Render writes the named page. The page is rendered in full before any byte
// reaches w, so a template error never leaves half a page.
func (s *Set) Render(w io.Writer, name string, data Page) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("templates: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		return fmt.Errorf("templates: render %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// EditionHTML renders the edition's content as an HTML fragment — the
// headline list, then the lead — as feeds carry it.
func (s *Set) EditionHTML(e digest.Edition) (string, error) {
	var buf bytes.Buffer
	if err := s.fragment.Execute(&buf, e); err != nil {
		return "", fmt.Errorf("templates: render edition %s: %w", e.ID, err)
	}
	return buf.String(), nil
}

var funcs = template.FuncMap{
	// longDay formats an edition ID as "Friday, 27 November 2026".
	"longDay": longDay,
	"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}
