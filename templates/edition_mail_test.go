package templates

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

func mailSite(t *testing.T) MailSite {
	t.Helper()
	base, err := url.Parse("https://news.example.com/news/")
	if err != nil {
		t.Fatal(err)
	}
	return MailSite{Title: "Daily Brief", Base: base, PostalAddress: `Broadsheet News\n1 Example Street`}
}

var testPersonal = Personal{Email: "reader@example.com",
	UnsubscribeURL: "https://news.example.com/news/unsubscribe/tok",
	PreferencesURL: "https://news.example.com/news/preferences/tok"}

func sampleEdition(t *testing.T) digest.Edition {
	t.Helper()
	page, err := digest.ParseText(digest.Sample())
	if err != nil {
		t.Fatal(err)
	}
	e, err := digest.Build("2026-11-27", page)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newEditionMail(t *testing.T, opts EditionMailOptions) *EditionMail {
	t.Helper()
	m, err := NewEditionMail(opts)
	if err != nil {
		t.Fatalf("NewEditionMail: %v", err)
	}
	return m
}

func TestEditionMailLinks(t *testing.T) {
	r, err := newEditionMail(t, EditionMailOptions{}).Render(mailSite(t), sampleEdition(t), testPersonal)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"https://news.example.com/news/editions/2026-11-27",
		"https://news.example.com/news/feed.rss",
		testPersonal.UnsubscribeURL, testPersonal.PreferencesURL, testPersonal.Email,
		"Broadsheet News", "1 Example Street",
		"Forwarded this?", "https://news.example.com/news/subscribe", "https://news.example.com/news/archive",
	} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text part lacks %q", want)
		}
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}
	if r.Continued {
		t.Errorf("the sample edition was cut short")
	}
}

func TestEditionMailSubject(t *testing.T) {
	noLead := digest.Edition{ID: "2026-11-28", Page: digest.FrontPage{Headlines: []digest.Headline{{Title: "Only headlines today"}}}}
	withLead := sampleEdition(t)
	broken := withLead
	lead := *withLead.Page.Lead
	lead.Title = "Line one\r\nBcc: x@example.net\tand\u2028more"
	broken.Page.Lead = &lead
	tests := []struct {
		name     string
		template string
		edition  digest.Edition
		want     string
	}{
		{"default", "", withLead, "Daily Brief: Unholy Alliance Seeks Closer Cooperation With Russia-North Korea Mutual Defense Pact"},
		{"default without a lead", "", noLead, "Daily Brief: Headlines for 2026-11-28"},
		{"the date", "{{.Title}} — {{.Date}}", withLead, "Daily Brief — Friday, 27 November 2026"},
		{"section and preheader", "[{{.Lead.Section}}] {{.Preheader}}", withLead, "[Tipsheet] Russian President Vladimir Putin and North Korean leader Kim Jong Un signed a defense treaty on June 19, furthering their strategic partnership in defiance of…"},
		{"line breaks made spaces", "", broken, "Daily Brief: Line one Bcc: x@example.net and more"},
		{"a multi-line template", "{{.Title}}\n\n{{.Edition.ID}}\n", withLead, "Daily Brief 2026-11-27"},
		{"no personal values", "{{.Title}}{{.Email}}{{.UnsubscribeURL}}", withLead, "Daily Brief"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newEditionMail(t, EditionMailOptions{Subject: tt.template})
			r, err := m.Render(mailSite(t), tt.edition, testPersonal)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tt.want {
				t.Errorf("subject %q, want %q", r.Subject, tt.want)
			}
		})
	}
	for _, bad := range []string{"{{.Title", "{{.Nope}}", "{{.Lead.Nope}}", "{{if .Title}}{{end}}"} {
		if _, err := NewEditionMail(EditionMailOptions{Subject: bad}); err == nil {
			t.Errorf("subject template %q accepted", bad)
		}
	}
}

func TestEditionMailWithoutLead(t *testing.T) {
	e := digest.Edition{ID: "2026-11-28", Page: digest.FrontPage{Headlines: []digest.Headline{
		{Title: "First headline", URL: "https://example.com/1"}, {Title: "Second headline"}}}}
	r, err := newEditionMail(t, EditionMailOptions{}).Render(mailSite(t), e, testPersonal)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "* First headline\n  https://example.com/1\n* Second headline\n") {
		t.Errorf("text part's headlines:\n%s", r.Text)
	}
	if strings.Contains(r.HTML, `class="title"`) || !strings.Contains(r.HTML, `<a href="https://example.com/1"`) {
		t.Errorf("HTML part of a headlines-only edition:\n%s", r.HTML)
	}
	if !strings.Contains(r.HTML, ">First headline") {
		t.Errorf("the preheader is not the first headline")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEditionMailOverride(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, EditionTextFile, "Today in {{.Title}}: {{.Lead.Title}}\nLeave: {{.UnsubscribeURL}}\n")
	m := newEditionMail(t, EditionMailOptions{Dir: dir})
	if got := m.Overrides(); len(got) != 1 || got[0] != path {
		t.Errorf("Overrides() = %v, want [%s]", got, path)
	}
	r, err := m.Render(mailSite(t), sampleEdition(t), testPersonal)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Today in Daily Brief: Unholy Alliance Seeks Closer Cooperation With\nRussia-North Korea Mutual Defense Pact\nLeave: " + testPersonal.UnsubscribeURL + "\n"; r.Text != want {
		t.Errorf("overridden text part:\n%q\nwant\n%q", r.Text, want)
	}
	if !strings.Contains(r.HTML, `class="headline"`) {
		t.Errorf("the HTML part is not the embedded one")
	}
}

func TestEditionMailBrokenOverride(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		content string
		want    string // in the error, after the file's path
	}{
		{"parse error", EditionTextFile, "line one\nline two\n{{.Title\n", "edition.txt:3"},
		{"unknown field", EditionTextFile, "{{.UnsubscribeURL}}\n\n{{.Nope}}\n", ":3:"},
		{"unknown function", EditionHTMLFile, "<p>\n{{shout .Title}}</p>", ":2:"},
		{"html escaping error", EditionHTMLFile, "<a href=\"{{.UnsubscribeURL}}\">x</a>\n<a href=\"{{.WebURL}}", "edition.html"},
		{"no unsubscribe link", EditionTextFile, "{{.Title}}\n", "unsubscribe link"},
		{"no unsubscribe link in HTML", EditionHTMLFile, "<p>{{.Title}}</p>", "UnsubscribeURL"},
		{"not UTF-8", EditionTextFile, "caf\xe9", "not UTF-8"},
		{"a script", EditionHTMLFile, `<a href="{{.UnsubscribeURL}}">x</a><script>alert(1)</script>`, "<script"},
		{"a form", EditionHTMLFile, `<form action="{{.UnsubscribeURL}}"><button>Leave</button></form>`, "<form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, tt.file, tt.content)
			_, err := NewEditionMail(EditionMailOptions{Dir: dir})
			if err == nil {
				t.Fatal("a broken override was accepted")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s and %q", err, path, tt.want)
			}
		})
	}
	if _, err := NewEditionMail(EditionMailOptions{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Errorf("a missing template directory was accepted")
	}
}

func TestWrapText(t *testing.T) {
	long := strings.Repeat("word ", 30)
	tests := []struct {
		name, in, want string
	}{
		{"short lines stay", "a\nb\n", "a\nb\n"},
		{"blank runs become one", "\n\na\n\n\n\nb\n\n", "a\n\nb\n"},
		{"trailing spaces go", "a  \n-- \nb\t\n", "a\n-- \nb\n"},
		{"paragraph", long, strings.TrimSpace(strings.Repeat("word ", 15)) + "\n" + strings.TrimSpace(strings.Repeat("word ", 15)) + "\n"},
		{"item keeps a hanging indent", "* " + long, "* " + strings.Repeat("word ", 14) + "word\n  " + strings.TrimSpace(strings.Repeat("word ", 15)) + "\n"},
		{"indent kept", "    " + long, "    " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n    " + strings.TrimSpace(strings.Repeat("word ", 14)) + "\n    word word\n"},
		{"long word alone", "see " + strings.Repeat("x", 100) + " ok", "see\n" + strings.Repeat("x", 100) + "\nok\n"},
		{"characters, not bytes", strings.Repeat("é", 70) + " ü", strings.Repeat("é", 70) + " ü\n"},
	}
	for _, tt := range tests {
		if got := wrapText(tt.in, 76); got != tt.want {
			t.Errorf("%s: wrapText =\n%q\nwant\n%q", tt.name, got, tt.want)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	tests := []struct{ in, want string }{
		{"One. Two.", "One."},
		{"U.S. officials said so. Then more.", "U.S. officials said so."},
		{"Mr. Smith went. Home.", "Mr. Smith went."},
		{"By J. Doe, today. Next.", "By J. Doe, today."},
		{`He said “stop.” Then left.`, `He said “stop.”`},
		{"Really? Yes.", "Really?"},
		{"Version 2.0 is out. Yes.", "Version 2.0 is out."},
		{"No end at all", "No end at all"},
	}
	for _, tt := range tests {
		if got := firstSentence(tt.in); got != tt.want {
			t.Errorf("firstSentence(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
