package digest

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	readability "codeberg.org/readeck/go-readability/v2"
	"github.com/PuerkitoBio/goquery"
	"github.com/andybalholm/cascadia"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// HTMLOptions say how to read a front page served as HTML.
type HTMLOptions struct {
	// HeadlineSelector matches the headline links, in page order (CSS;
	// default "h2 a, h3 a"). A matched element that is not a link stands
	// for the first link inside it.
	HeadlineSelector string
	// LeadSelector matches the link to the lead article (default: the
	// first headline).
	LeadSelector string
	// MaxHeadlines bounds the headlines kept (default 15).
	MaxHeadlines int
}

// Defaults of HTMLOptions.
const (
	DefaultHeadlineSelector = "h2 a, h3 a"
	DefaultMaxHeadlines     = 15
)

func (o HTMLOptions) withDefaults() HTMLOptions {
	if strings.TrimSpace(o.HeadlineSelector) == "" {
		o.HeadlineSelector = DefaultHeadlineSelector
	}
	if o.MaxHeadlines <= 0 {
		o.MaxHeadlines = DefaultMaxHeadlines
	}
	return o
}

// ParseHTMLHeadlines reads the headlines of an HTML front page at pageURL
// and the address of its lead article: links matched by the selector, in
// page order, deduplicated, with absolute http(s) URLs.
func ParseHTMLHeadlines(body []byte, pageURL *url.URL, opts HTMLOptions) ([]Headline, string, error) {
	opts = opts.withDefaults()
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return nil, "", &SourceError{Reason: "the page is not HTML: " + err.Error(), Err: err}
	}
	base := pageURL
	if href, ok := doc.Find("base[href]").First().Attr("href"); ok {
		if b, err := pageURL.Parse(strings.TrimSpace(href)); err == nil {
			base = b
		}
	}
	sel, err := compileSelector(doc, opts.HeadlineSelector)
	if err != nil {
		return nil, "", err
	}
	var heads []Headline
	seen := map[string]bool{}
	sel.EachWithBreak(func(_ int, s *goquery.Selection) bool {
		link := linkOf(s)
		title := cleanText(s.Text())
		u := absoluteHTTP(base, link.AttrOr("href", ""))
		if title == "" || u == "" || seen[u] {
			return true
		}
		seen[u] = true
		h := newHeadline(title)
		h.URL = u
		heads = append(heads, h)
		return len(heads) < opts.MaxHeadlines
	})
	if len(heads) == 0 {
		return nil, "", sourceErrorf("no headline links on the page match %q", opts.HeadlineSelector)
	}
	lead := heads[0].URL
	if opts.LeadSelector != "" {
		ls, err := compileSelector(doc, opts.LeadSelector)
		if err != nil {
			return nil, "", err
		}
		lead = ""
		ls.EachWithBreak(func(_ int, s *goquery.Selection) bool {
			lead = absoluteHTTP(base, linkOf(s).AttrOr("href", ""))
			return lead == ""
		})
		if lead == "" {
			return nil, "", sourceErrorf("no link on the page matches the lead selector %q", opts.LeadSelector)
		}
	}
	return heads, lead, nil
}

// compileSelector runs a CSS selector; a selector that does not parse is a
// SourceError (goquery alone would quietly match nothing).
func compileSelector(doc *goquery.Document, selector string) (*goquery.Selection, error) {
	if err := CheckSelector(selector); err != nil {
		return nil, err
	}
	return doc.Find(selector), nil
}

// CheckSelector reports whether selector is valid CSS, as a SourceError.
func CheckSelector(selector string) error {
	if _, err := cascadia.ParseGroup(selector); err != nil {
		return &SourceError{Reason: fmt.Sprintf("%q is not a valid CSS selector: %v", selector, err), Err: err}
	}
	return nil
}

// linkOf is s when it is a link, else its first link inside, else the
// link around it.
func linkOf(s *goquery.Selection) *goquery.Selection {
	if goquery.NodeName(s) == "a" {
		return s
	}
	if a := s.Find("a[href]").First(); a.Length() > 0 {
		return a
	}
	return s.Closest("a[href]")
}

// absoluteHTTP resolves href against base; "" unless the result is an
// http or https URL (so javascript:, data: and the like never pass).
func absoluteHTTP(base *url.URL, href string) string {
	href = strings.TrimSpace(href)
	if href == "" {
		return ""
	}
	u, err := base.Parse(href)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	u.Fragment = ""
	return u.String()
}

// cleanText collapses whitespace and drops control characters.
func cleanText(s string) string {
	return strings.Join(strings.FieldsFunc(cleanLine(s), unicode.IsSpace), " ")
}

// articlePolicy is what survives of an article's HTML before it is read
// into blocks: structure and text, nothing active.
func articlePolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "pre",
		"a", "em", "strong", "b", "i", "br", "div", "section", "article", "figure", "figcaption", "span")
	p.AllowAttrs("href").OnElements("a")
	p.AllowURLSchemes("http", "https")
	p.RequireParseableURLs(true)
	return p
}

// ParseArticle reduces an article page at pageURL to a lead: title,
// credit (byline), section (from the page's metadata) and body blocks,
// through a readability extraction and an HTML sanitiser.
func ParseArticle(body []byte, pageURL *url.URL) (*Lead, error) {
	art, err := readability.FromReader(bytes.NewReader(body), pageURL)
	if err != nil || art.Node == nil {
		return nil, sourceErrorf("no article could be read at %s", pageURL)
	}
	var rendered bytes.Buffer
	if err := art.RenderHTML(&rendered); err != nil {
		return nil, &SourceError{Reason: "the article could not be rendered: " + err.Error(), Err: err}
	}
	lead := &Lead{
		Title:   cleanText(art.Title()),
		Credit:  cleanText(art.Byline()),
		Section: sectionOf(body),
	}
	lead.Blocks = dropByline(htmlBlocks(articlePolicy().SanitizeBytes(rendered.Bytes()), lead.Title), lead.Credit)
	if lead.Title == "" {
		return nil, sourceErrorf("the article at %s has no title", pageURL)
	}
	if len(lead.Blocks) == 0 {
		return nil, sourceErrorf("the article at %s has no readable text", pageURL)
	}
	return lead, nil
}

// dropByline removes the byline paragraph readability leaves in the body
// ("By Jane Doe"), which the lead carries as its credit.
func dropByline(blocks []Block, credit string) []Block {
	if credit == "" {
		return blocks
	}
	out := blocks[:0]
	for _, b := range blocks {
		t := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(b.Text, "By "), "by "))
		if b.Type == Paragraph && (strings.EqualFold(t, credit) || strings.EqualFold(b.Text, credit)) {
			continue
		}
		out = append(out, b)
	}
	return out
}

// sectionOf reads the section from a page's metadata (article:section).
func sectionOf(body []byte) string {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	for _, sel := range []string{`meta[property="article:section"]`, `meta[name="article:section"]`, `meta[name="section"]`} {
		if v := cleanText(doc.Find(sel).First().AttrOr("content", "")); v != "" {
			return v
		}
	}
	return ""
}

// htmlBlocks turns sanitised HTML into headings and paragraphs, text only.
func htmlBlocks(sanitized []byte, title string) []Block {
	root, err := html.Parse(bytes.NewReader(sanitized))
	if err != nil {
		return nil
	}
	var blocks []Block
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "h1", "h2", "h3", "h4", "h5", "h6":
				if t := cleanText(textOf(n)); t != "" && t != title {
					blocks = append(blocks, Block{Type: Heading, Text: t})
				}
				return
			case "p", "li", "blockquote", "pre", "figcaption":
				if t := cleanText(textOf(n)); t != "" {
					blocks = append(blocks, Block{Type: Paragraph, Text: t})
				}
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return blocks
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
		case n.Type == html.ElementNode && n.Data == "br":
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
		if n.Type == html.ElementNode && n.Data != "a" && n.Data != "em" && n.Data != "strong" && n.Data != "b" && n.Data != "i" && n.Data != "span" {
			b.WriteByte(' ')
		}
	}
	walk(n)
	return b.String()
}
