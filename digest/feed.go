package digest

import (
	"bytes"
	"cmp"
	"html"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/microcosm-cc/bluemonday"
	"github.com/mmcdole/gofeed"
)

// FeedFrontPage is a front page read from a feed: its headlines, and the
// lead when the newest item carries its full content. Otherwise LeadURL
// names the page to fetch the lead from.
type FeedFrontPage struct {
	Page    FrontPage
	LeadURL string
}

// ParseFeed reads an RSS, Atom or JSON feed at feedURL: the newest items
// (title and link) are the headlines, the newest is the lead.
func ParseFeed(body []byte, feedURL *url.URL, maxHeadlines int) (FeedFrontPage, error) {
	if maxHeadlines <= 0 {
		maxHeadlines = DefaultMaxHeadlines
	}
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		return FeedFrontPage{}, &SourceError{Reason: "the feed could not be read: " + err.Error(), Err: err}
	}
	base := feedURL
	if feed.Link != "" {
		if b, err := feedURL.Parse(feed.Link); err == nil && (b.Scheme == "http" || b.Scheme == "https") {
			base = b
		}
	}
	items := slices.Clone(feed.Items)
	// Newest first; items without a date keep their feed order, after
	// dated ones.
	slices.SortStableFunc(items, func(a, b *gofeed.Item) int {
		return cmp.Compare(itemTime(b).Unix(), itemTime(a).Unix())
	})
	var out FeedFrontPage
	seen := map[string]bool{}
	var newest *gofeed.Item
	for _, it := range items {
		title := cleanText(stripTags(it.Title))
		link := absoluteHTTP(base, it.Link)
		if title == "" || link == "" || seen[link] {
			continue
		}
		seen[link] = true
		if newest == nil {
			newest = it
		}
		h := newHeadline(title)
		h.URL = link
		out.Page.Headlines = append(out.Page.Headlines, h)
		if len(out.Page.Headlines) == maxHeadlines {
			break
		}
	}
	if newest == nil {
		return FeedFrontPage{}, sourceErrorf("the feed has no items with a title and a link")
	}
	content := newest.Content
	if content == "" && len(newest.Description) > 500 {
		content = newest.Description // some feeds put the article there
	}
	blocks := htmlBlocks(articlePolicy().SanitizeBytes([]byte(content)), "")
	if len(blocks) == 0 {
		out.LeadURL = out.Page.Headlines[0].URL
		return out, nil
	}
	lead := &Lead{Title: out.Page.Headlines[0].Title, Blocks: blocks}
	if newest.Author != nil {
		lead.Credit = cleanText(newest.Author.Name)
	} else if len(newest.Authors) > 0 {
		lead.Credit = cleanText(newest.Authors[0].Name)
	}
	if len(newest.Categories) > 0 {
		lead.Section = cleanText(newest.Categories[0])
	}
	out.Page.Lead = lead
	return out, nil
}

func itemTime(it *gofeed.Item) time.Time {
	switch {
	case it.PublishedParsed != nil:
		return *it.PublishedParsed
	case it.UpdatedParsed != nil:
		return *it.UpdatedParsed
	}
	return time.Time{}
}

// stripTags removes markup from a feed title (some feeds put HTML there).
func stripTags(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	// The policy returns HTML (entities escaped); a title is text.
	return html.UnescapeString(bluemonday.StrictPolicy().Sanitize(s))
}
