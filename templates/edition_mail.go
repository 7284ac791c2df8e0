package templates

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"

	"github.com/vanng822/go-premailer/premailer"

	"github.com/broadsheet-news/broadsheet/digest"
)

// The edition mail's template files: embedded as mail/NAME, replaced by
// NAME in an override directory.
const (
	EditionHTMLFile = "edition.html"
	EditionTextFile = "edition.txt"
)

// DefaultSubject is the edition mail's subject template when none is
// configured. Its data is EditionMailData: .Title is the publication's name,
// .Lead.Title the lead's title ("Headlines for 2026-11-27" without a lead).
const DefaultSubject = "{{.Title}}: {{.Lead.Title}}"

// DefaultMaxHTMLBytes bounds the rendered HTML part. Gmail clips messages
// whose HTML passes 102 KB; the margin leaves room for the personal links
// put in per subscriber.
const DefaultMaxHTMLBytes = 96_000

// EditionMailOptions configure NewEditionMail.
type EditionMailOptions struct {
	// Dir, when set, is a directory whose edition.html and edition.txt,
	// where present, replace the embedded templates
	// (BROADSHEET_TEMPLATES_DIR).
	Dir string
	// Subject is the subject's text/template ("" is DefaultSubject).
	Subject string
	// MaxHTMLBytes bounds the HTML part (0 is DefaultMaxHTMLBytes): an
	// edition whose HTML is larger shows only the start of its lead, with
	// a link to the rest on the web. The text part is never cut.
	MaxHTMLBytes int
}

// EditionMail renders an edition as an email: subject, text part and HTML
// part with its CSS inlined. It is safe for concurrent use.
type EditionMail struct {
	html      *htmltemplate.Template
	text      *texttemplate.Template
	subject   *texttemplate.Template
	maxHTML   int
	overrides []string
}

// MailSite is what the edition mail shows of the site.
type MailSite struct {
	Title string   // the publication's name
	Base  *url.URL // the site's absolute URL, ending in "/"
	// PostalAddress is the sender's postal address, printed in the footer;
	// a line break (or a literal \n, as environment variables carry it)
	// separates its lines.
	PostalAddress string
}

// Personal are the parts of the mail that differ per subscriber.
type Personal struct {
	Email          string
	UnsubscribeURL string
	PreferencesURL string
}

// EditionMailData is what the edition mail templates (and the subject
// template) receive.
type EditionMailData struct {
	// Title is the publication's name.
	Title   string
	Edition digest.Edition
	// Lead is the edition's lead. When the edition has none, HasLead is
	// false and Lead holds only a Title, the edition's ("Headlines for
	// 2026-11-27"), so {{.Lead.Title}} always reads well.
	Lead    digest.Lead
	HasLead bool
	// Date is the edition's day written out: "Friday, 27 November 2026".
	Date string
	// Preheader is the line inbox lists show after the subject: the lead's
	// first sentence, or the first headline.
	Preheader string
	// SiteURL is the site's home, WebURL the edition's page, FeedURL the
	// RSS feed, SubscribeURL the subscribe form (for a reader a mail was
	// forwarded to), ArchiveURL the list of past editions.
	SiteURL, WebURL, FeedURL string
	SubscribeURL, ArchiveURL string
	// PostalAddress holds the lines of the sender's postal address.
	PostalAddress []string
	// Continued: the lead is cut short (HTML only, to stay under the size
	// limit); the template links to the rest on the web.
	Continued bool
	// The subscriber's parts; empty when the subject is rendered.
	Personal
}

// RenderedMail is an edition rendered as a mail.
type RenderedMail struct {
	Subject string // one line
	Text    string // wrapped at 76 characters
	HTML    string // CSS inlined
	// Continued reports that the HTML part shows only the start of the
	// lead.
	Continued bool
}

// NewEditionMail parses the edition mail templates — the embedded ones, or
// their overrides in opts.Dir — and the subject template, and renders
// sample editions with them, so that a broken template fails here, naming
// its file and line, rather than when mail goes out.
func NewEditionMail(opts EditionMailOptions) (*EditionMail, error) {
	m := &EditionMail{maxHTML: opts.MaxHTMLBytes}
	if m.maxHTML <= 0 {
		m.maxHTML = DefaultMaxHTMLBytes
	}
	if opts.Dir != "" {
		info, err := os.Stat(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("templates: template directory: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("templates: template directory %s is not a directory", opts.Dir)
		}
	}
	htmlName, htmlSrc, err := m.source(opts.Dir, EditionHTMLFile)
	if err != nil {
		return nil, err
	}
	if m.html, err = htmltemplate.New(htmlName).Funcs(htmltemplate.FuncMap(mailFuncs)).Parse(htmlSrc); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	textName, textSrc, err := m.source(opts.Dir, EditionTextFile)
	if err != nil {
		return nil, err
	}
	if m.text, err = texttemplate.New(textName).Funcs(mailFuncs).Parse(textSrc); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	subject := opts.Subject
	if strings.TrimSpace(subject) == "" {
		subject = DefaultSubject
	}
	if m.subject, err = texttemplate.New("subject").Funcs(mailFuncs).Parse(subject); err != nil {
		return nil, fmt.Errorf("templates: subject template %q: %w", subject, err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// source returns the name and text of template file: the override in dir
// when there is one (named by its path, so errors point at it), else the
// embedded one.
func (m *EditionMail) source(dir, file string) (name, text string, err error) {
	if dir != "" {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			if !utf8.Valid(b) {
				return "", "", fmt.Errorf("templates: %s is not UTF-8", path)
			}
			m.overrides = append(m.overrides, path)
			return path, string(b), nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", "", fmt.Errorf("templates: %w", err)
		}
	}
	b, err := mailFS.ReadFile("mail/" + file)
	if err != nil {
		return "", "", fmt.Errorf("templates: %w", err)
	}
	return "mail/" + file, string(b), nil
}

// Overrides returns the paths of the override files in use.
func (m *EditionMail) Overrides() []string { return m.overrides }

// check renders sample editions — with and without a lead — and checks
// that both parts carry the unsubscribe link, which every mail must.
// html/template reports some mistakes only when it first executes.
func (m *EditionMail) check() error {
	base, _ := url.Parse("https://news.example.com/")
	site := MailSite{Title: "Daily Brief", Base: base, PostalAddress: "1 Example Street\nSpringfield"}
	const unsubscribe = "https://news.example.com/unsubscribe/check"
	p := Personal{Email: "reader@example.com", UnsubscribeURL: unsubscribe, PreferencesURL: "https://news.example.com/preferences/check"}
	for _, e := range checkEditions() {
		r, err := m.render(site, e, p)
		if err != nil {
			return fmt.Errorf("templates: the mail templates fail on a sample edition: %w", err)
		}
		if !strings.Contains(r.Text, unsubscribe) {
			return fmt.Errorf("templates: %s does not show the unsubscribe link ({{.UnsubscribeURL}}), which every mail must", m.text.Name())
		}
		if !strings.Contains(r.HTML, unsubscribe) {
			return fmt.Errorf("templates: %s does not link to {{.UnsubscribeURL}}, which every mail must", m.html.Name())
		}
		lower := strings.ToLower(r.HTML)
		for _, tag := range []string{"<script", "<form", "<iframe", "<object", "<embed"} {
			if strings.Contains(lower, tag) {
				return fmt.Errorf("templates: %s has a %s> element, which mail clients drop or flag as dangerous", m.html.Name(), tag)
			}
		}
	}
	return nil
}

func checkEditions() []digest.Edition {
	withLead := digest.Edition{ID: "2026-11-27", Page: digest.FrontPage{
		Headlines: []digest.Headline{{Title: "A linked headline", URL: "https://example.com/a"}, {Title: "A plain headline…", Truncated: true}},
		Lead: &digest.Lead{Section: "World", Title: "The lead's title", Credit: "By A. Writer",
			Blocks: []digest.Block{{Type: digest.Paragraph, Text: "A first sentence. A second one."},
				{Type: digest.Heading, Text: "A heading"}, {Type: digest.Paragraph, Text: "Another paragraph."}}},
	}}
	headlinesOnly := digest.Edition{ID: "2026-11-28", Page: digest.FrontPage{
		Headlines: []digest.Headline{{Title: "Only a headline"}}}}
	leadOnly := digest.Edition{ID: "2026-11-29", Page: digest.FrontPage{Lead: &digest.Lead{Title: "Only a lead"}}}
	return []digest.Edition{withLead, headlinesOnly, leadOnly}
}

// mailData returns what the templates receive for edition e of site, for
// subscriber p.
func mailData(site MailSite, e digest.Edition, p Personal) EditionMailData {
	d := EditionMailData{
		Title:     oneLine(site.Title),
		Edition:   e,
		Date:      longDay(e.ID),
		Preheader: preheader(e),
		Personal:  p,
	}
	if e.Page.Lead != nil {
		d.Lead, d.HasLead = *e.Page.Lead, true
	}
	if d.Lead.Title == "" {
		d.Lead.Title = e.Title()
	}
	if site.Base != nil {
		d.SiteURL = site.Base.String()
		d.WebURL = site.Base.ResolveReference(&url.URL{Path: "editions/" + e.ID}).String()
		d.FeedURL = site.Base.ResolveReference(&url.URL{Path: "feed.rss"}).String()
		d.SubscribeURL = site.Base.ResolveReference(&url.URL{Path: "subscribe"}).String()
		d.ArchiveURL = site.Base.ResolveReference(&url.URL{Path: "archive"}).String()
	}
	for line := range strings.SplitSeq(strings.ReplaceAll(site.PostalAddress, `\n`, "\n"), "\n") {
		if line = oneLine(line); line != "" {
			d.PostalAddress = append(d.PostalAddress, line)
		}
	}
	return d
}

// Render renders edition e of site for subscriber p. The HTML part stays
// under the size limit by cutting the lead short when it must.
func (m *EditionMail) Render(site MailSite, e digest.Edition, p Personal) (RenderedMail, error) {
	r, err := m.render(site, e, p)
	if err != nil {
		return RenderedMail{}, fmt.Errorf("templates: render edition %s: %w", e.ID, err)
	}
	return r, nil
}

func (m *EditionMail) render(site MailSite, e digest.Edition, p Personal) (RenderedMail, error) {
	// The subject is the same for every subscriber: it sees no personal
	// values.
	var out RenderedMail
	var err error
	if out.Subject, err = m.subjectOf(mailData(site, e, Personal{})); err != nil {
		return RenderedMail{}, err
	}
	d := mailData(site, e, p)
	var text bytes.Buffer
	if err := m.text.Execute(&text, d); err != nil {
		return RenderedMail{}, err
	}
	out.Text = wrapText(text.String(), textWidth)

	blocks := d.Lead.Blocks
	for keep := len(blocks); ; {
		d.Lead.Blocks, d.Continued = blocks[:keep], keep < len(blocks)
		html, err := m.renderHTML(d)
		if err != nil {
			return RenderedMail{}, err
		}
		if len(html) <= m.maxHTML || keep == 0 {
			out.HTML, out.Continued = html, d.Continued
			break
		}
		// Too large: keep the share of the blocks that may fit, and at
		// least one block fewer.
		next := int(float64(keep) * float64(m.maxHTML) / float64(len(html)) * 0.95)
		// Equivalent mutant (ARITHMETIC_BASE, INVERT_NEGATIVES): `keep+1` never wins the min, as next < 0.95*keep here (len(html) > m.maxHTML), so next <= keep-1 already; keep-1 is a guard.
		keep = max(0, min(next, keep-1))
	}
	if len(out.HTML) > m.maxHTML {
		return RenderedMail{}, fmt.Errorf("the HTML part is %d bytes even without the lead's body, more than the %d allowed", len(out.HTML), m.maxHTML)
	}
	return out, nil
}

func (m *EditionMail) subjectOf(d EditionMailData) (string, error) {
	var b strings.Builder
	if err := m.subject.Execute(&b, d); err != nil {
		return "", fmt.Errorf("subject: %w", err)
	}
	s := oneLine(b.String())
	if s == "" {
		return "", fmt.Errorf("the subject template gives an empty subject for edition %s", d.Edition.ID)
	}
	return s, nil
}

// renderHTML executes the HTML template and inlines its CSS.
func (m *EditionMail) renderHTML(d EditionMailData) (string, error) {
	var buf bytes.Buffer
	if err := m.html.Execute(&buf, d); err != nil {
		return "", err
	}
	pm, err := premailer.NewPremailerFromBytes(buf.Bytes(), premailer.NewOptions())
	if err != nil {
		return "", fmt.Errorf("inline CSS: %w", err)
	}
	html, err := pm.Transform()
	if err != nil {
		return "", fmt.Errorf("inline CSS: %w", err)
	}
	return html, nil
}

// oneLine returns s with its runs of white space and control characters
// made single spaces, trimmed: what may stand in a header or a heading.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// longDay formats an edition ID as "Friday, 27 November 2026" (an ID that
// is not a day is returned as it is).
func longDay(id string) string {
	t, err := digest.ParseDay(id)
	if err != nil {
		return id
	}
	return t.Format("Monday, 2 January 2006")
}

// mailFuncs are the helpers the mail templates may call.
var mailFuncs = texttemplate.FuncMap{
	// upper upper-cases a string: section names in the text part.
	"upper": strings.ToUpper,
	// rule returns ch repeated as wide as s (at most 76): the line under
	// a title in the text part.
	"rule": func(ch, s string) string {
		return strings.Repeat(ch, max(1, min(textWidth, utf8.RuneCountInString(s))))
	},
}
