package templates

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/broadsheet-news/broadsheet/digest"
)

// TestXSSCorpus sends every vector of testdata/xss.txt through each way
// HTML enters broadsheet — an article page, a feed's content, a front
// page's headline links — and checks that the edition page and the feed
// fragment rendered from the result hold nothing executable.
func TestXSSCorpus(t *testing.T) {
	vectors := readLines(t, "testdata/xss.txt")
	set, err := New()
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://news.example.org/")
	for _, v := range vectors {
		t.Run(v, func(t *testing.T) {
			article := "<html><head><title>Title " + v + "</title><meta property=\"article:section\" content='" + v + "'></head><body><article><h1>Title " + v + "</h1>" +
				"<p>" + strings.Repeat("A sentence long enough to count as an article paragraph. ", 10) + v + "</p>" +
				"<h2>Sub " + v + "</h2><p>" + strings.Repeat("More text to read here, plainly. ", 10) + "</p>" + v + "</article></body></html>"
			lead, err := digest.ParseArticle([]byte(article), base)
			if err != nil {
				t.Fatalf("ParseArticle: %v", err)
			}
			feed := `<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title><link>https://news.example.org/</link>` +
				`<item><title>Title ` + html.EscapeString(v) + `</title><link>https://news.example.org/a</link><content:encoded><![CDATA[<p>Text ` + v + `</p>]]></content:encoded></item></channel></rss>`
			fp, err := digest.ParseFeed([]byte(feed), base, 5)
			if err != nil {
				t.Fatalf("ParseFeed: %v", err)
			}
			front := `<html><body><h2><a href="https://news.example.org/x">Headline ` + v + `</a></h2><h2>` + v + `</h2></body></html>`
			heads, _, _ := digest.ParseHTMLHeadlines([]byte(front), base, digest.HTMLOptions{})
			for _, page := range []digest.FrontPage{{Headlines: append(heads, fp.Page.Headlines...), Lead: lead}, fp.Page} {
				e, err := digest.Build("2026-11-27", page)
				if err != nil {
					t.Fatal(err)
				}
				e.Published, e.Updated = time.Now(), time.Now()
				fragment, err := set.EditionHTML(e)
				if err != nil {
					t.Fatal(err)
				}
				checkInert(t, "feed fragment", fragment)
				var b strings.Builder
				if err := set.Render(&b, EditionPage, Page{SiteTitle: "T", Edition: &e}); err != nil {
					t.Fatal(err)
				}
				checkInert(t, "edition page", b.String())
			}
		})
	}
}

// checkInert fails the test if doc has an active element, an event
// handler, an inline style or a script URL.
func checkInert(t *testing.T, what, doc string) {
	t.Helper()
	root, err := html.Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "svg", "math", "meta", "link", "base", "form", "input", "video", "source", "details", "img":
				// The layout's own: meta tags (charset, name, Open Graph's
				// property) and links to feeds, the icon, the canonical page.
				rel := attr(n, "rel")
				if !(n.Data == "meta" && hasAttr(n, "charset", "name", "property")) &&
					!(n.Data == "link" && (rel == "alternate" || rel == "icon" || rel == "canonical")) {
					t.Errorf("%s has a <%s> element", what, n.Data)
				}
			case "style":
				if n.Parent == nil || n.Parent.Data != "head" {
					t.Errorf("%s has a <style> outside its head", what)
				}
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
				switch {
				case strings.HasPrefix(a.Key, "on"):
					t.Errorf("%s has an event handler %s=%q on <%s>", what, a.Key, a.Val, n.Data)
				case a.Key == "style" || a.Key == "srcdoc":
					t.Errorf("%s has a %s attribute on <%s>", what, a.Key, n.Data)
				case (a.Key == "href" || a.Key == "src" || a.Key == "action") &&
					(strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:")):
					t.Errorf("%s has %s=%q on <%s>", what, a.Key, a.Val, n.Data)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, keys ...string) bool {
	for _, k := range keys {
		if attr(n, k) != "" {
			return true
		}
	}
	return false
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
