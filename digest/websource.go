package digest

import (
	"bytes"
	"context"
	"mime"
	"strings"
)

// WebSource is a front page on the web: an HTML page whose headline links
// lead to the lead article, or a feed (RSS, Atom, JSON Feed).
type WebSource struct {
	URL     string
	Fetcher *Fetcher
	HTML    HTMLOptions
}

// FrontPage fetches and reads the source. A page that is down, malformed
// or empty is an error, and nothing is built.
func (s WebSource) FrontPage(ctx context.Context) (FrontPage, error) {
	page, err := s.Fetcher.Get(ctx, s.URL)
	if err != nil {
		return FrontPage{}, err
	}
	if isFeed(page.ContentType, page.Body) {
		fp, err := ParseFeed(page.Body, page.URL, s.HTML.MaxHeadlines)
		if err != nil {
			return FrontPage{}, err
		}
		if fp.Page.Lead == nil {
			if fp.Page.Lead, err = s.lead(ctx, fp.LeadURL); err != nil {
				return FrontPage{}, err
			}
		}
		return fp.Page, nil
	}
	heads, leadURL, err := ParseHTMLHeadlines(page.Body, page.URL, s.HTML)
	if err != nil {
		return FrontPage{}, err
	}
	lead, err := s.lead(ctx, leadURL)
	if err != nil {
		return FrontPage{}, err
	}
	return FrontPage{Headlines: heads, Lead: lead}, nil
}

func (s WebSource) lead(ctx context.Context, leadURL string) (*Lead, error) {
	page, err := s.Fetcher.Get(ctx, leadURL)
	if err != nil {
		return nil, err
	}
	return ParseArticle(page.Body, page.URL)
}

func (s WebSource) String() string { return s.URL }

// isFeed tells a feed from a web page by its content type, or, when that
// is vague (text/xml, application/octet-stream…), by how the body starts.
func isFeed(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/rss+xml", "application/atom+xml", "application/feed+json", "application/json", "application/rdf+xml":
		return true
	case "text/html", "application/xhtml+xml":
		return false
	}
	head := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\uFEFF")), " \t\r\n")
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `>=` cuts a head of exactly 512 bytes to itself.
	if len(head) > 512 {
		head = head[:512]
	}
	lower := strings.ToLower(string(head))
	return strings.HasPrefix(lower, "{") || strings.Contains(lower, "<rss") || strings.Contains(lower, "<feed") ||
		strings.Contains(lower, "<rdf:rdf") || (strings.HasPrefix(lower, "<?xml") && !strings.Contains(lower, "<html"))
}
