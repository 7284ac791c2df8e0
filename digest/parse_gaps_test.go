package digest_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

var feedURL = must(url.Parse("http://feeds.example.net/news.rss"))

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// rss builds an RSS feed whose channel link is link, of items given as
// inner XML.
func rss(link string, items ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>T</title>`)
	if link != "" {
		fmt.Fprintf(&b, "<link>%s</link>", link)
	}
	for _, it := range items {
		b.WriteString("<item>" + it + "</item>")
	}
	b.WriteString("</channel></rss>")
	return []byte(b.String())
}

// numbered is n items "Story 1"… at /story/1…, each with some content.
func numbered(n int) []string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`<title>Story %d</title><link>https://news.example.org/story/%d</link><content:encoded><![CDATA[<p>Text %d.</p>]]></content:encoded>`, i+1, i+1, i+1)
	}
	return items
}

func TestFeedMaxHeadlines(t *testing.T) {
	body := rss("https://news.example.org/", numbered(digest.DefaultMaxHeadlines+5)...)
	for max, want := range map[int]int{2: 2, 1: 1, 0: digest.DefaultMaxHeadlines, -1: digest.DefaultMaxHeadlines} {
		fp, err := digest.ParseFeed(body, feedURL, max)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(fp.Page.Headlines); got != want {
			t.Errorf("maxHeadlines %d: %d headlines, want %d", max, got, want)
		}
		if fp.Page.Headlines[0].Title != "Story 1" {
			t.Errorf("maxHeadlines %d: first headline %q", max, fp.Page.Headlines[0].Title)
		}
	}
}

// TestFeedRelativeLinks: item links resolve against the channel's link when
// it is http(s), else against the feed's own URL.
func TestFeedRelativeLinks(t *testing.T) {
	item := `<title>Relative</title><link>/a/story</link><content:encoded><![CDATA[<p>Body.</p>]]></content:encoded>`
	for link, want := range map[string]string{
		"https://news.example.org/": "https://news.example.org/a/story",
		"http://plain.example.org/": "http://plain.example.org/a/story",
		"ftp://files.example.org/":  "http://feeds.example.net/a/story",
		"":                          "http://feeds.example.net/a/story",
	} {
		fp, err := digest.ParseFeed(rss(link, item), feedURL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fp.Page.Headlines[0].URL; got != want {
			t.Errorf("channel link %q: item at %q, want %q", link, got, want)
		}
	}
}

// TestFeedDescriptionAsArticle: an item without content whose description
// is longer than 500 bytes is taken as the article; one of 500 or fewer is
// a summary, and the lead is to be fetched from the item's link.
func TestFeedDescriptionAsArticle(t *testing.T) {
	desc := func(n int) string { // n bytes of HTML: <p>xxx…</p>
		return "<p>" + strings.Repeat("x", n-len("<p></p>")) + "</p>"
	}
	for n, asArticle := range map[int]bool{500: false, 501: true, 2000: true, 100: false} {
		item := `<title>Long</title><link>https://news.example.org/long</link><description><![CDATA[` + desc(n) + `]]></description>`
		fp, err := digest.ParseFeed(rss("", item), feedURL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fp.Page.Lead != nil; got != asArticle {
			t.Errorf("a %d-byte description taken as the article: %v, want %v", n, got, asArticle)
		}
		if !asArticle && fp.LeadURL != "https://news.example.org/long" {
			t.Errorf("a %d-byte description: lead URL %q", n, fp.LeadURL)
		}
		if asArticle && (fp.LeadURL != "" || len(fp.Page.Lead.Blocks) != 1 || fp.Page.Lead.Title != "Long") {
			t.Errorf("a %d-byte description: lead %+v, URL %q", n, fp.Page.Lead, fp.LeadURL)
		}
	}
	// Content wins over a long description.
	item := `<title>Both</title><link>https://news.example.org/both</link><description><![CDATA[` + desc(900) +
		`]]></description><content:encoded><![CDATA[<p>The content.</p>]]></content:encoded>`
	fp, err := digest.ParseFeed(rss("", item), feedURL, 0)
	if err != nil || fp.Page.Lead == nil || fp.Page.Lead.Blocks[0].Text != "The content." {
		t.Errorf("content and description: %+v %v", fp.Page.Lead, err)
	}
}

// TestFeedLeadWithoutAuthorOrCategory: a lead item with neither gets no
// credit or section (and does not fail).
func TestFeedLeadWithoutAuthorOrCategory(t *testing.T) {
	fp, err := digest.ParseFeed(rss("", numbered(1)...), feedURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l := fp.Page.Lead; l == nil || l.Credit != "" || l.Section != "" || l.Blocks[0].Text != "Text 1." {
		t.Errorf("lead %+v", fp.Page.Lead)
	}
	// JSON Feed carries authors as a list: the first one is the credit.
	jf := `{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[{"id":"1","url":"https://news.example.org/a","title":"A",
		"content_html":"<p>Body.</p>","authors":[{"name":"First Author"},{"name":"Second"}],"tags":["Sport","City"]}]}`
	fp, err = digest.ParseFeed([]byte(jf), feedURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l := fp.Page.Lead; l == nil || l.Credit != "First Author" || l.Section != "Sport" {
		t.Errorf("json lead %+v", fp.Page.Lead)
	}
}

// TestInlineElementsKeepSpacing: inline elements (links, emphasis, spans)
// join their text to what follows; block elements and <br> separate it.
func TestInlineElementsKeepSpacing(t *testing.T) {
	content := `<p>Read <a href="https://news.example.org/r">the report</a>, <em>in</em>line <strong>bo</strong>ld ` +
		`<b>b</b>c <i>i</i>j <span>s</span>t; a<br>b</p><ul><li><div>one</div>two</li></ul><blockquote><p>q</p>uote</blockquote>`
	item := `<title>Inline</title><link>https://news.example.org/i</link><content:encoded><![CDATA[` + content + `]]></content:encoded>`
	fp, err := digest.ParseFeed(rss("", item), feedURL, 0)
	if err != nil || fp.Page.Lead == nil {
		t.Fatalf("%+v %v", fp, err)
	}
	var got []string
	for _, b := range fp.Page.Lead.Blocks {
		got = append(got, b.Text)
	}
	want := []string{"Read the report, inline bold bc ij st; a b", "one two", "q uote"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("blocks\n got %q\nwant %q", got, want)
	}
}

const leadPage = `<html><body>
<h2><a href="/one">One</a></h2><h2><a href="/two">Two</a></h2><h3><a href="/three">Three</a></h3>
<aside><a class="lead" href="javascript:alert(1)">Not a link</a><a class="lead" href="/first-lead">First</a>
<a class="lead" href="/second-lead">Second</a></aside></body></html>`

// TestLeadSelectorFirstMatch: the lead is the first usable link the lead
// selector matches, in page order.
func TestLeadSelectorFirstMatch(t *testing.T) {
	base := must(url.Parse("https://news.example.org/front"))
	heads, lead, err := digest.ParseHTMLHeadlines([]byte(leadPage), base, digest.HTMLOptions{LeadSelector: "a.lead"})
	if err != nil {
		t.Fatal(err)
	}
	if lead != "https://news.example.org/first-lead" {
		t.Errorf("lead %q, want the first usable match", lead)
	}
	if len(heads) != 3 {
		t.Errorf("headlines %+v", heads)
	}
	_, lead, err = digest.ParseHTMLHeadlines([]byte(leadPage), base, digest.HTMLOptions{})
	if err != nil || lead != "https://news.example.org/one" {
		t.Errorf("no lead selector: lead %q (%v), want the first headline", lead, err)
	}
	if _, _, err := digest.ParseHTMLHeadlines([]byte(leadPage), base, digest.HTMLOptions{LeadSelector: "a[href^=javascript]"}); !digest.IsSourceError(err) {
		t.Errorf("a lead selector matching no usable link: %v", err)
	}
}

// TestHTMLMaxHeadlines: exactly MaxHeadlines are kept; 0 (or a blank
// selector) means the default.
func TestHTMLMaxHeadlines(t *testing.T) {
	var b strings.Builder
	for i := range digest.DefaultMaxHeadlines + 3 {
		fmt.Fprintf(&b, `<h2><a href="/s/%d">Story %d</a></h2>`, i, i)
	}
	base := must(url.Parse("https://news.example.org/"))
	for opts, want := range map[digest.HTMLOptions]int{
		{MaxHeadlines: 3}: 3,
		{MaxHeadlines: 1}: 1,
		{}:                digest.DefaultMaxHeadlines,
		{MaxHeadlines: -2, HeadlineSelector: "   "}: digest.DefaultMaxHeadlines,
	} {
		heads, _, err := digest.ParseHTMLHeadlines([]byte(b.String()), base, opts)
		if err != nil || len(heads) != want {
			t.Errorf("%+v: %d headlines (%v), want %d", opts, len(heads), err, want)
		}
	}
}

// TestTextSource: a file, standard input, and the files that are not a
// front page, each a SourceError naming the path.
func TestTextSource(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "front.txt")
	if err := os.WriteFile(good, []byte("Headline one\nHeadline two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	page, err := digest.TextSource{Path: good}.FrontPage(ctx)
	if err != nil || len(page.Headlines) != 2 {
		t.Errorf("file: %+v %v", page, err)
	}
	page, err = digest.TextSource{Path: "-", Stdin: strings.NewReader("From stdin\n")}.FrontPage(ctx)
	if err != nil || len(page.Headlines) != 1 || page.Headlines[0].Title != "From stdin" {
		t.Errorf("stdin: %+v %v", page, err)
	}
	for src, want := range map[digest.TextSource]string{
		{Path: "-"}:                              "no standard input",
		{Path: filepath.Join(dir, "missing")}:    "missing does not exist",
		{Path: dir}:                              dir + " is a directory, not a front page",
		{Path: empty}:                            empty + ": ",
		{Path: filepath.Join(dir, "x", "y", "")}: "does not exist",
	} {
		_, err := src.FrontPage(ctx)
		var se *digest.SourceError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want a SourceError saying %q", src, err, want)
		}
	}
	if os.Geteuid() != 0 { // root reads anything
		locked := filepath.Join(dir, "locked.txt")
		if err := os.WriteFile(locked, []byte("x\n"), 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := (digest.TextSource{Path: locked}).FrontPage(ctx); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("unreadable file: %v", err)
		}
	}
	if s := (digest.TextSource{Path: good}).String(); s != good {
		t.Errorf("String() = %q", s)
	}
}

// TestControlCharactersInText: a tab becomes a space; other control
// characters and the noncharacters U+FFFE/U+FFFF are removed.
func TestControlCharactersInText(t *testing.T) {
	page, err := digest.ParseText(strings.NewReader("Tab\there\x01 and\uFFFE\uFFFF gone\x7f\nSecond\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := page.Headlines[0].Title; got != "Tab here and gone" {
		t.Errorf("headline %q", got)
	}
}

// TestFeedOrder: items are ordered newest first by their published date,
// else their updated date; undated items keep their feed order, after the
// dated ones.
func TestFeedOrder(t *testing.T) {
	atom := `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><title>Undated one</title><link href="https://news.example.org/u1"/></entry>
<entry><title>Updated only, older</title><link href="https://news.example.org/old"/><updated>2026-11-25T10:00:00Z</updated></entry>
<entry><title>Undated two</title><link href="https://news.example.org/u2"/></entry>
<entry><title>Published, newest</title><link href="https://news.example.org/new"/><published>2026-11-27T10:00:00Z</published><updated>2026-11-20T10:00:00Z</updated></entry>
<entry><title>Updated only, newer</title><link href="https://news.example.org/mid"/><updated>2026-11-26T10:00:00Z</updated></entry>
</feed>`
	fp, err := digest.ParseFeed([]byte(atom), feedURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range fp.Page.Headlines {
		got = append(got, h.Title)
	}
	want := "Published, newest|Updated only, newer|Updated only, older|Undated one|Undated two"
	if strings.Join(got, "|") != want {
		t.Errorf("order:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if fp.LeadURL != "https://news.example.org/new" {
		t.Errorf("lead URL %q, want the newest item's", fp.LeadURL)
	}
	for _, bad := range []string{"not a feed at all", `<rss version="2.0"><channel><title>T</title><item><title>No link</title></item></channel></rss>`} {
		if _, err := digest.ParseFeed([]byte(bad), feedURL, 0); !digest.IsSourceError(err) {
			t.Errorf("ParseFeed(%q): %v, want a SourceError", bad, err)
		}
	}
}

// TestHeadlineSelectorOnNonLinks: a selector matching a heading takes the
// first link inside it; one matching an element inside a link takes that
// link.
func TestHeadlineSelectorOnNonLinks(t *testing.T) {
	page := `<html><body><h2>Heading <a href="/inside">Inside link</a> <a href="/second">Second</a></h2>
<a href="/around"><span class="t">Around link</span></a><span class="t">No link at all</span></body></html>`
	base := must(url.Parse("https://news.example.org/"))
	for sel, want := range map[string]string{
		"h2":     "https://news.example.org/inside",
		"span.t": "https://news.example.org/around",
	} {
		heads, _, err := digest.ParseHTMLHeadlines([]byte(page), base, digest.HTMLOptions{HeadlineSelector: sel})
		if err != nil || len(heads) != 1 || heads[0].URL != want {
			t.Errorf("selector %q: %+v %v, want one headline at %s", sel, heads, err, want)
		}
	}
}

// TestBaseHref: relative headline and lead links resolve against the
// page's <base href> (itself relative to the page, and only the first one
// counts); an unreadable one is ignored and they resolve against the page.
func TestBaseHref(t *testing.T) {
	page := must(url.Parse("https://news.example.org/front/today"))
	body := func(base string) []byte {
		return []byte(`<html><head>` + base + `<base href="https://other.example.net/">
			</head><body><h2><a href="one">One</a></h2><h2><a href="/two">Two</a></h2></body></html>`)
	}
	for _, c := range []struct {
		name, base string
		want       []string
	}{
		{"absolute", `<base href=" https://cdn.example.net/news/ ">`, []string{"https://cdn.example.net/news/one", "https://cdn.example.net/two"}},
		{"relative", `<base href="../archive/">`, []string{"https://news.example.org/archive/one", "https://news.example.org/two"}},
		{"unreadable", `<base href="https://[::1">`, []string{"https://news.example.org/front/one", "https://news.example.org/two"}},
		{"unreadable escape", `<base href="%zz/">`, []string{"https://news.example.org/front/one", "https://news.example.org/two"}},
	} {
		heads, lead, err := digest.ParseHTMLHeadlines(body(c.base), page, digest.HTMLOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []string
		for _, h := range heads {
			got = append(got, h.URL)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") || lead != c.want[0] {
			t.Errorf("%s: headlines %q, lead %q; want %q", c.name, got, lead, c.want)
		}
	}
}
