// Package feeds renders editions as RSS 2.0, Atom 1.0 and JSON Feed 1.1 on
// gorilla/feeds, fixing what that library leaves out (self links, permanent
// ids, published dates, feed_url), and serves the rendered bytes with
// conditional GET and gzip.
package feeds

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	gfeeds "github.com/gorilla/feeds"

	"github.com/broadsheet-news/broadsheet/digest"
)

// MaxItems is how many editions a feed carries, newest first.
const MaxItems = 30

// File names of the feeds, relative to the site's base URL.
const (
	RSSFile  = "feed.rss"
	AtomFile = "feed.atom"
	JSONFile = "feed.json"
)

// Content types of the feeds.
const (
	RSSType  = "application/rss+xml; charset=utf-8"
	AtomType = "application/atom+xml; charset=utf-8"
	JSONType = "application/feed+json"
)

// ContentRenderer renders an edition as the HTML fragment a feed item
// carries. templates.Set meets it.
type ContentRenderer interface {
	EditionHTML(e digest.Edition) (string, error)
}

// Meta describes the feed as a whole.
type Meta struct {
	Title       string
	Description string
	// BaseURL is the site's absolute base URL, ending in "/".
	BaseURL *url.URL
	// ID is the permanent Atom feed id (a tag: URI).
	ID string
	// Hub is the WebSub hub's URL, or "": the feeds name it (link
	// rel="hub") and are served with a Link header naming it.
	Hub string
}

// URL resolves a path relative to the base URL.
func (m Meta) URL(path string) string {
	return m.BaseURL.ResolveReference(&url.URL{Path: path}).String()
}

// EditionURL is the address of an edition's web page.
func (m Meta) EditionURL(id string) string { return m.URL("editions/" + id) }

// Set is the three feeds rendered from one list of editions.
type Set struct {
	RSS, Atom, JSON *Document
}

// Files lists the feeds by file name, for a static export.
func (s *Set) Files() map[string][]byte {
	return map[string][]byte{
		RSSFile:  s.RSS.Body(),
		AtomFile: s.Atom.Body(),
		JSONFile: s.JSON.Body(),
	}
}

// Render renders the feeds of editions (newest first; only the first
// MaxItems are used). The output depends only on its inputs, so rendering
// the same editions again gives the same bytes.
func Render(meta Meta, editions []digest.Edition, content ContentRenderer) (*Set, error) {
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `>=` slices a list of exactly MaxItems to itself.
	if len(editions) > MaxItems {
		editions = editions[:MaxItems]
	}
	feed, err := genericFeed(meta, editions, content)
	if err != nil {
		return nil, err
	}
	modified := feed.Updated
	rss, err := renderRSS(meta, feed)
	if err != nil {
		return nil, err
	}
	atom, err := renderAtom(meta, feed, editions)
	if err != nil {
		return nil, err
	}
	jf, err := renderJSON(meta, feed)
	if err != nil {
		return nil, err
	}
	return &Set{
		RSS:  newDocument(rss, RSSType, modified, meta.links(RSSFile)),
		Atom: newDocument(atom, AtomType, modified, meta.links(AtomFile)),
		JSON: newDocument(jf, JSONType, modified, meta.links(JSONFile)),
	}, nil
}

// links is the Link header of feed file: the WebSub hub and the feed's
// own URL (WebSub §4), or nil without a hub.
func (m Meta) links(file string) []string {
	if m.Hub == "" {
		return nil
	}
	return []string{"<" + m.Hub + `>; rel="hub", <` + m.URL(file) + `>; rel="self"`}
}

// genericFeed builds gorilla's format-neutral feed; each format then fixes
// what gorilla gets wrong for it.
func genericFeed(meta Meta, editions []digest.Edition, content ContentRenderer) (*gfeeds.Feed, error) {
	feed := &gfeeds.Feed{
		Title:       meta.Title,
		Link:        &gfeeds.Link{Href: meta.BaseURL.String()},
		Description: meta.Description,
		Author:      &gfeeds.Author{Name: meta.Title},
		// An empty feed still needs a fixed date: the Unix epoch keeps it
		// byte-stable.
		Updated: time.Unix(0, 0).UTC(),
	}
	for _, e := range editions {
		body, err := content.EditionHTML(e)
		if err != nil {
			return nil, fmt.Errorf("feeds: %w", err)
		}
		feed.Items = append(feed.Items, &gfeeds.Item{
			Title:       e.Title(),
			Link:        &gfeeds.Link{Href: meta.EditionURL(e.ID)},
			Description: e.Summary(),
			Id:          e.FeedID,
			IsPermaLink: "false",
			Created:     e.Published.UTC(),
			Updated:     e.Updated.UTC(),
			Content:     body,
		})
		if e.Updated.After(feed.Updated) {
			feed.Updated = e.Updated.UTC()
		}
	}
	return feed, nil
}

// selfLink is an atom:link in RSS (rel="self", which gorilla does not
// write, or rel="hub").
type selfLink struct {
	XMLName xml.Name `xml:"atom:link"`
	Href    string   `xml:"href,attr"`
	Rel     string   `xml:"rel,attr"`
	Type    string   `xml:"type,attr,omitempty"`
}

type rssDocument struct {
	XMLName   xml.Name `xml:"rss"`
	Version   string   `xml:"version,attr"`
	ContentNS string   `xml:"xmlns:content,attr"`
	AtomNS    string   `xml:"xmlns:atom,attr"`
	Channel   rssChannel
}

// rssChannel puts the self link ahead of gorilla's channel fields, because
// the W3C validator wants it before the items.
type rssChannel struct {
	XMLName     xml.Name   `xml:"channel"`
	AtomLinks   []selfLink // self, then the WebSub hub if any
	Title       rssText    `xml:"title"` // hides gorilla's, see rssText
	Link        string     `xml:"link"`
	Description rssText    `xml:"description"`
	*gfeeds.RssFeed
	Items []rssItem `xml:"item"` // hides gorilla's
}

// rssItem is gorilla's item with its title written as rssText.
type rssItem struct {
	XMLName xml.Name `xml:"item"`
	Title   rssText  `xml:"title"`
	*gfeeds.RssItem
}

// rssText is plain text in an RSS element whose content readers may take
// for HTML: "&", "<" and ">" are written as hexadecimal character
// references, as the RSS Best Practices Profile (and the W3C validator)
// ask, so that a title like "Why <b> tags matter" is not taken for markup.
type rssText struct {
	Inner string `xml:",innerxml"`
}

func newRSSText(s string) rssText {
	var b strings.Builder
	// Escape everything XML needs, then turn the three into references.
	_ = xml.EscapeText(&b, []byte(s))
	r := strings.NewReplacer("&amp;", "&#x26;", "&lt;", "&#x3C;", "&gt;", "&#x3E;")
	return rssText{Inner: r.Replace(b.String())}
}

func (d *rssDocument) FeedXml() any { return d }

// rssLinks are the RSS channel's atom:links: self, and the WebSub hub.
func (m Meta) rssLinks() []selfLink {
	links := []selfLink{{Href: m.URL(RSSFile), Rel: "self", Type: "application/rss+xml"}}
	if m.Hub != "" {
		links = append(links, selfLink{Href: m.Hub, Rel: "hub"})
	}
	return links
}

func renderRSS(meta Meta, feed *gfeeds.Feed) ([]byte, error) {
	channel := (&gfeeds.Rss{Feed: feed}).RssFeed()
	channel.ManagingEditor = "" // RSS wants an email address here; we have none.
	channel.PubDate = channel.LastBuildDate
	channel.Generator = "broadsheet"
	channel.Docs = "https://www.rssboard.org/rss-specification"
	for _, item := range channel.Items {
		// description is HTML in RSS: escape the plain-text summary.
		item.Description = html.EscapeString(item.Description)
	}
	doc := &rssDocument{
		Version:   "2.0",
		ContentNS: "http://purl.org/rss/1.0/modules/content/",
		AtomNS:    "http://www.w3.org/2005/Atom",
		Channel: rssChannel{
			AtomLinks:   meta.rssLinks(),
			Title:       newRSSText(channel.Title),
			Link:        channel.Link,
			Description: newRSSText(channel.Description),
			RssFeed:     channel,
		},
	}
	for _, item := range channel.Items {
		doc.Channel.Items = append(doc.Channel.Items, rssItem{Title: newRSSText(item.Title), RssItem: item})
	}
	return writeXML(doc)
}

// atomTime is RFC 3339 with milliseconds when there are any, so that
// editions built within one second keep distinct dates.
const atomTime = "2006-01-02T15:04:05.999Z07:00"

// atomDocument puts the links (self, then alternate) ahead of gorilla's feed
// fields, before the entries. Its Links hide AtomFeed.Link, which
// encoding/xml would drop anyway as the shallower "link" wins.
type atomDocument struct {
	XMLName xml.Name          `xml:"feed"`
	Links   []gfeeds.AtomLink `xml:"link"`
	*gfeeds.AtomFeed
}

func (d *atomDocument) FeedXml() any { return d }

func renderAtom(meta Meta, feed *gfeeds.Feed, editions []digest.Edition) ([]byte, error) {
	af := (&gfeeds.Atom{Feed: feed}).AtomFeed()
	af.Id = meta.ID // gorilla takes the id from the link
	af.Updated = feed.Updated.Format(atomTime)
	af.Link = nil // written by atomDocument.Links
	for i, entry := range af.Entries {
		entry.Published = editions[i].Published.UTC().Format(atomTime)
		entry.Updated = editions[i].Updated.UTC().Format(atomTime)
		entry.Links[0].Type = "text/html"
		if entry.Summary != nil {
			entry.Summary.Type = "text" // a plain-text first paragraph
		}
	}
	doc := &atomDocument{
		Links: []gfeeds.AtomLink{
			{Href: meta.URL(AtomFile), Rel: "self", Type: "application/atom+xml"},
			{Href: meta.BaseURL.String(), Rel: "alternate", Type: "text/html"},
		},
		AtomFeed: af,
	}
	if meta.Hub != "" {
		doc.Links = append(doc.Links, gfeeds.AtomLink{Href: meta.Hub, Rel: "hub"})
	}
	return writeXML(doc)
}

func writeXML(doc gfeeds.XmlFeed) ([]byte, error) {
	var buf bytes.Buffer
	if err := gfeeds.WriteXML(doc, &buf); err != nil {
		return nil, fmt.Errorf("feeds: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func renderJSON(meta Meta, feed *gfeeds.Feed) ([]byte, error) {
	jf := (&gfeeds.JSON{Feed: feed}).JSONFeed()
	jf.FeedUrl = meta.URL(JSONFile)
	doc := jsonDocument{JSONFeed: jf, Items: jf.Items}
	if meta.Hub != "" {
		doc.Hubs = []jsonHub{{Type: "WebSub", URL: meta.Hub}}
	}
	if doc.Items == nil {
		doc.Items = []*gfeeds.JSONItem{} // "items" is required, even when empty
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("feeds: %w", err)
	}
	return buf.Bytes(), nil
}

// jsonDocument writes "items" even when empty: gorilla omits an empty list.
// Its hubs name the WebSub hub (JSON Feed 1.1 "hubs").
type jsonDocument struct {
	*gfeeds.JSONFeed
	Hubs  []jsonHub          `json:"hubs,omitempty"`
	Items []*gfeeds.JSONItem `json:"items"`
}

type jsonHub struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}
