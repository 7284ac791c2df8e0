package templates

import (
	"fmt"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/broadsheet-news/broadsheet/digest"
)

func leadEdition(first string, more ...string) digest.Edition {
	blocks := []digest.Block{{Type: digest.Paragraph, Text: first}}
	for _, p := range more {
		blocks = append(blocks, digest.Block{Type: digest.Paragraph, Text: p})
	}
	return digest.Edition{ID: "2026-11-27", Page: digest.FrontPage{
		Headlines: []digest.Headline{{Title: "The first headline", URL: "https://example.com/1"}},
		Lead:      &digest.Lead{Title: "Lead", Blocks: blocks}}}
}

// TestPreheaderLimit: a first sentence of exactly 160 characters is the
// preheader as it is; a longer one is cut at the last space that leaves
// room for the "…", never inside a word, and is never longer than 160.
func TestPreheaderLimit(t *testing.T) {
	words := func(n int) string { // n characters of 9-letter words and spaces
		s := strings.Repeat("abcdéfghi ", n/10+1)
		return strings.TrimRight(s[:len(string([]rune(s)[:n]))], " ")
	}
	exact := strings.Repeat("é", maxPreheader-1) + "."
	if got := preheader(leadEdition(exact)); got != exact {
		t.Errorf("a %d-character sentence became %q", maxPreheader, got)
	}
	for _, n := range []int{maxPreheader + 1, maxPreheader + 5, 400} {
		long := words(n) + "."
		got := preheader(leadEdition(long))
		if c := utf8.RuneCountInString(got); c > maxPreheader {
			t.Errorf("%d characters: preheader of %d characters", n, c)
		}
		body, ok := strings.CutSuffix(got, "…")
		if !ok {
			t.Fatalf("%d characters: %q does not end in …", n, got)
		}
		if !strings.HasPrefix(long, body) || long[len(body)] != ' ' || strings.HasSuffix(body, " ") {
			t.Errorf("%d characters: cut inside a word or after a space: %q", n, got)
		}
		// The longest prefix ending before a space that leaves room for "…".
		want := ""
		for i, r := range []rune(long) {
			if i >= maxPreheader {
				break
			}
			if r == ' ' {
				want = string([]rune(long)[:i])
			}
		}
		if body != want {
			t.Errorf("%d characters: cut to\n%q\nwant\n%q", n, body, want)
		}
	}
	// One word longer than the limit is cut inside it, to the limit.
	word := strings.Repeat("x", 300)
	if got := preheader(leadEdition(word)); got != strings.Repeat("x", maxPreheader-1)+"…" {
		t.Errorf("one long word: %q", got)
	}
	// Punctuation before the cut goes.
	punct := strings.Repeat("abcd, ", 40)
	if got := preheader(leadEdition(punct)); strings.Contains(got, ",…") || !strings.HasSuffix(got, "abcd…") {
		t.Errorf("a cut after a comma: %q", got)
	}
	// Without a lead sentence, the first headline; without either, nothing.
	noLead := digest.Edition{ID: "2026-11-27", Page: digest.FrontPage{Headlines: []digest.Headline{{Title: "Only  a\nheadline"}}}}
	if got := preheader(noLead); got != "Only a headline" {
		t.Errorf("no lead: %q", got)
	}
	if got := preheader(digest.Edition{ID: "2026-11-27", Page: digest.FrontPage{Lead: &digest.Lead{Title: "T"}}}); got != "" {
		t.Errorf("nothing to show: %q", got)
	}
}

// TestHTMLSizeBudget: an edition whose HTML part passes the limit keeps as
// many of the lead's blocks as fit (marked Continued, the text part
// whole); at exactly the limit nothing is cut; a limit the mail cannot
// meet even without the lead's body is an error.
func TestHTMLSizeBudget(t *testing.T) {
	var paras []string
	for i := range 60 {
		paras = append(paras, fmt.Sprintf("Paragraph %02d says something at some length, so the mail grows by a fair amount with each one.", i))
	}
	e := leadEdition(paras[0], paras[1:]...)
	full, err := newEditionMail(t, EditionMailOptions{}).Render(mailSite(t), e, testPersonal)
	if err != nil {
		t.Fatal(err)
	}
	if full.Continued {
		t.Fatal("the full edition was cut under the default limit")
	}
	at, err := newEditionMail(t, EditionMailOptions{MaxHTMLBytes: len(full.HTML)}).Render(mailSite(t), e, testPersonal)
	if err != nil || at.Continued || at.HTML != full.HTML {
		t.Errorf("a limit of exactly the HTML's size: continued=%v %v", at.Continued, err)
	}
	// The most blocks that fit a limit of about half, found by trying.
	limit := len(full.HTML) / 2
	m := newEditionMail(t, EditionMailOptions{MaxHTMLBytes: limit})
	best := 0
	for keep := len(paras); keep > 0; keep-- {
		d := mailData(mailSite(t), e, testPersonal)
		d.Lead.Blocks, d.Continued = d.Lead.Blocks[:keep], keep < len(paras)
		if h, err := m.renderHTML(d); err == nil && len(h) <= limit {
			best = keep
			break
		}
	}
	cut, err := m.Render(mailSite(t), e, testPersonal)
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, p := range paras {
		if strings.Contains(cut.HTML, p) {
			kept++
		}
	}
	if !cut.Continued || len(cut.HTML) > limit || kept > best || kept < best*3/4 {
		t.Errorf("limit %d: continued=%v, %d bytes, %d blocks kept of the %d that fit", limit, cut.Continued, len(cut.HTML), kept, best)
	}
	if !strings.Contains(cut.HTML, paras[0]) || strings.Contains(cut.HTML, paras[len(paras)-1]) {
		t.Error("the cut did not keep the start of the lead")
	}
	if !strings.Contains(cut.HTML, "/editions/2026-11-27") {
		t.Error("a cut edition does not link to the rest on the web")
	}
	for _, p := range paras {
		if !strings.Contains(strings.ReplaceAll(cut.Text, "\n", " "), p) {
			t.Fatalf("the text part lost %q", p)
		}
	}

	tiny := &EditionMail{html: m.html, text: m.text, subject: m.subject, maxHTML: 500}
	if _, err := tiny.Render(mailSite(t), e, testPersonal); err == nil || !strings.Contains(err.Error(), "even without the lead's body") {
		t.Errorf("a 500-byte limit: %v", err)
	}
	if d := newEditionMail(t, EditionMailOptions{MaxHTMLBytes: -1}); d.maxHTML != DefaultMaxHTMLBytes {
		t.Errorf("MaxHTMLBytes -1 gives a limit of %d", d.maxHTML)
	}
}

// TestConfirmationMail renders both confirmation mails: the one asking to
// confirm, and the one telling an active reader there is nothing to do.
func TestConfirmationMail(t *testing.T) {
	mails, err := NewMails()
	if err != nil {
		t.Fatal(err)
	}
	d := ConfirmationData{SiteTitle: "The <Daily>\nBrief", ConfirmURL: "https://news.example.com/confirm/c-tok",
		PreferencesURL: "https://news.example.com/preferences/p-tok"}
	subject, text, html, err := mails.Confirmation(d)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Confirm your subscription to The <Daily> Brief" {
		t.Errorf("subject %q", subject)
	}
	for part, body := range map[string]string{"text": text, "html": html} {
		if !strings.Contains(body, d.ConfirmURL) || !strings.Contains(body, d.PreferencesURL) {
			t.Errorf("%s part lacks a link:\n%s", part, body)
		}
	}
	if strings.Contains(html, "<Daily>") || !strings.Contains(html, "&lt;Daily&gt;") {
		t.Errorf("the title is not escaped in the HTML part")
	}

	d.AlreadyActive = true
	subject, text, html, err = mails.Confirmation(d)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "You are subscribed to The <Daily> Brief" {
		t.Errorf("already active: subject %q", subject)
	}
	for part, body := range map[string]string{"text": text, "html": html} {
		if strings.Contains(body, d.ConfirmURL) || !strings.Contains(body, d.PreferencesURL) {
			t.Errorf("already active: the %s part asks to confirm, or lacks the preferences link:\n%s", part, body)
		}
	}
}

// TestOverrideDirErrors: an override that cannot be read (not merely
// missing) stops NewEditionMail, naming it; so does a file given as the
// directory.
func TestOverrideDirErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, EditionHTMLFile), 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	if _, err := NewEditionMail(EditionMailOptions{Dir: dir}); err == nil || !strings.Contains(err.Error(), EditionHTMLFile) {
		t.Errorf("an unreadable override: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEditionMail(EditionMailOptions{Dir: file}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the directory: %v", err)
	}
}

func TestEditionLink(t *testing.T) {
	l := Links{EditionPrefix: "editions/", EditionSuffix: ".html"}
	if got := l.Edition("2026-11-27"); got != "editions/2026-11-27.html" {
		t.Errorf("Edition = %q", got)
	}
}

// TestWrapTextExactWidth: a line of exactly the width is kept as it is,
// inner spacing included; one character more goes through wrapping, which
// joins words with single spaces.
func TestWrapTextExactWidth(t *testing.T) {
	exact := "a  b" + strings.Repeat("c", textWidth-4)
	if got := wrapText(exact, textWidth); got != exact+"\n" {
		t.Errorf("a line of exactly %d characters became %q", textWidth, got)
	}
	if got := wrapText(exact+"d", textWidth); got != "a b"+strings.Repeat("c", textWidth-4)+"d\n" {
		t.Errorf("a line of %d characters became %q", textWidth+1, got)
	}
}

// TestHTMLSizeBudgetPasses: the budget's cut is found in a few renders
// (each inlines the CSS again, the costliest step of a mail), by the
// share of the blocks that may fit, not one block at a time — whether a
// few blocks or half of them must go.
func TestHTMLSizeBudgetPasses(t *testing.T) {
	passes := 0
	html, err := htmltemplate.New("counted").Funcs(htmltemplate.FuncMap{"pass": func() string { passes++; return "" }}).
		Parse(`{{pass}}<html><body><h1>{{.Lead.Title}}</h1>{{range .Lead.Blocks}}<p>{{.Text}}</p>{{end}}` +
			`{{if .Continued}}<p><a href="{{.WebURL}}">Read on</a></p>{{end}}</body></html>`)
	if err != nil {
		t.Fatal(err)
	}
	real := newEditionMail(t, EditionMailOptions{})
	m := &EditionMail{html: html, text: real.text, subject: real.subject, maxHTML: DefaultMaxHTMLBytes}
	var paras []string
	for i := range 60 {
		paras = append(paras, fmt.Sprintf("Paragraph %02d %s", i, strings.Repeat("words and more words ", 5)))
	}
	e := leadEdition(paras[0], paras[1:]...)
	full, err := m.Render(mailSite(t), e, testPersonal)
	if err != nil || full.Continued {
		t.Fatalf("the full edition: continued=%v, %v", full.Continued, err)
	}
	block := len(full.HTML) / len(paras) // about one block's share
	for _, cut := range []int{3, 10, 30} {
		m.maxHTML = len(full.HTML) - cut*block
		passes = 0
		got, err := m.Render(mailSite(t), e, testPersonal)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Continued || len(got.HTML) > m.maxHTML || !strings.Contains(got.HTML, paras[0]) {
			t.Errorf("about %d blocks too many: continued=%v, %d bytes for a limit of %d", cut, got.Continued, len(got.HTML), m.maxHTML)
		}
		if passes > 3 {
			t.Errorf("about %d blocks too many: %d renders, want at most 3", cut, passes)
		}
	}
}
