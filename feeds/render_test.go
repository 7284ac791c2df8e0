package feeds

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/mmcdole/gofeed/atom"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/templates"
)

const (
	testBase   = "http://news.example.com/daily/"
	testFeedID = "tag:news.example.com,2026-11-01:feed"
	testTitle  = "The Daily Broadsheet"
)

// testNewest is the latest Updated among testEditions (the second edition's,
// corrected after the first was published), so the feeds' modification time
// is not simply the first edition's.
var testNewest = time.Date(2026, 11, 27, 21, 45, 30, 0, time.UTC)

func testMeta(t *testing.T) Meta {
	t.Helper()
	base, err := url.Parse(testBase)
	if err != nil {
		t.Fatalf("parse base URL: %v", err)
	}
	return Meta{
		Title:       testTitle,
		Description: "One front page a day",
		BaseURL:     base,
		ID:          testFeedID,
	}
}

func testRenderer(t *testing.T) ContentRenderer {
	t.Helper()
	set, err := templates.New()
	if err != nil {
		t.Fatalf("templates.New: %v", err)
	}
	return set
}

// buildEdition builds the edition of day from page, as the store would have
// kept it.
func buildEdition(t *testing.T, day string, page digest.FrontPage, published, updated time.Time) digest.Edition {
	t.Helper()
	e, err := digest.Build(day, page)
	if err != nil {
		t.Fatalf("digest.Build(%s): %v", day, err)
	}
	e.FeedID = digest.TagURI("news.example.com", day)
	e.Published = published
	e.Updated = updated
	return e
}

// testEditions returns three editions, newest first: one with a lead whose
// first paragraph holds HTML special characters, one with headlines only,
// and one whose lead starts with a heading.
func testEditions(t *testing.T) []digest.Edition {
	t.Helper()
	return []digest.Edition{
		buildEdition(t, "2026-11-27", digest.FrontPage{
			Headlines: []digest.Headline{
				{Title: "Council approves the new bridge", URL: "https://news.example.org/bridge"},
				{Title: "Storms & floods close the coast road"},
				{Title: "Library opens on Sundays…", Truncated: true, URL: "https://news.example.org/library"},
			},
			Lead: &digest.Lead{
				Section: "Weather",
				Title:   "Frost warning for the valleys",
				Credit:  "By A. Reporter",
				Blocks: []digest.Block{
					{Type: digest.Paragraph, Text: "Forecasters say <b>& temperatures will drop below zero."},
					{Type: digest.Heading, Text: "What to do"},
					{Type: digest.Paragraph, Text: "Cover the plants and check on neighbours."},
				},
			},
		},
			time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 27, 7, 10, 0, 0, time.UTC)),
		buildEdition(t, "2026-11-26", digest.FrontPage{
			Headlines: []digest.Headline{
				{Title: "Harbour dredging starts in spring"},
				{Title: "School meals to cost less", URL: "https://news.example.org/meals"},
			},
		},
			time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC),
			testNewest),
		buildEdition(t, "2026-11-25", digest.FrontPage{
			Headlines: []digest.Headline{{Title: "Rail strike called off"}},
			Lead: &digest.Lead{
				Title: "The last tram",
				Blocks: []digest.Block{
					{Type: digest.Heading, Text: "A farewell"},
					{Type: digest.Paragraph, Text: "Crowds lined the route for the final run."},
					{Type: digest.Paragraph, Text: "The depot becomes a museum next year."},
				},
			},
		},
			time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)),
	}
}

func render(t *testing.T, editions []digest.Edition) *Set {
	t.Helper()
	set, err := Render(testMeta(t), editions, testRenderer(t))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return set
}

func parseFeed(t *testing.T, body []byte) *gofeed.Feed {
	t.Helper()
	feed, err := gofeed.NewParser().ParseString(string(body))
	if err != nil {
		t.Fatalf("gofeed cannot parse the feed: %v\n%s", err, body)
	}
	return feed
}

// checkWellFormed runs a strict XML decoder over the whole document.
func checkWellFormed(t *testing.T, body []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("the feed is not well-formed XML: %v\n%s", err, body)
		}
	}
}

// feedFormat describes one of the three feeds for table tests.
type feedFormat struct {
	name     string
	doc      func(*Set) *Document
	file     string
	feedType string
	// summary gives the item description gofeed returns for a plain-text
	// summary: RSS descriptions are HTML, so the text comes back escaped;
	// Atom (type="text") and JSON Feed give the text itself.
	summary func(string) string
	// itemUpdated tells whether the format carries an item's updated date
	// (RSS 2.0 has no element for it).
	itemUpdated bool
}

var feedFormats = []feedFormat{
	{"RSS", func(s *Set) *Document { return s.RSS }, RSSFile, "rss", html.EscapeString, false},
	{"Atom", func(s *Set) *Document { return s.Atom }, AtomFile, "atom", func(s string) string { return s }, true},
	{"JSON", func(s *Set) *Document { return s.JSON }, JSONFile, "json", func(s string) string { return s }, true},
}

func TestRenderFeeds(t *testing.T) {
	editions := testEditions(t)
	set := render(t, editions)
	wantTitles := []string{"Frost warning for the valleys", "Headlines for 2026-11-26", "The last tram"}
	wantSummaries := []string{
		"Forecasters say <b>& temperatures will drop below zero.",
		"",
		"Crowds lined the route for the final run.",
	}
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			feed := parseFeed(t, f.doc(set).Body())
			if got, want := feed.FeedType, f.feedType; got != want {
				t.Fatalf("feed type: got %q, want %q", got, want)
			}
			if got, want := feed.Title, testTitle; got != want {
				t.Fatalf("feed title: got %q, want %q", got, want)
			}
			if got, want := feed.FeedLink, testBase+f.file; got != want {
				t.Fatalf("self link: got %q, want %q", got, want)
			}
			if f.feedType != "json" { // JSON Feed has no feed-level date
				if feed.UpdatedParsed == nil {
					t.Fatalf("feed updated date missing")
				}
				if got, want := *feed.UpdatedParsed, testNewest; !got.Equal(want) {
					t.Fatalf("feed updated: got %v, want %v (the newest edition update)", got, want)
				}
			}
			if got, want := len(feed.Items), len(editions); got != want {
				t.Fatalf("items: got %d, want %d", got, want)
			}
			for i, e := range editions {
				item := feed.Items[i]
				if got, want := item.Title, wantTitles[i]; got != want {
					t.Fatalf("item %d title: got %q, want %q", i, got, want)
				}
				if got, want := item.Link, testBase+"editions/"+e.ID; got != want {
					t.Fatalf("item %d link: got %q, want %q", i, got, want)
				}
				if got, want := item.GUID, e.FeedID; got != want {
					t.Fatalf("item %d guid: got %q, want %q", i, got, want)
				}
				if item.PublishedParsed == nil {
					t.Fatalf("item %d: published date missing", i)
				}
				if got, want := *item.PublishedParsed, e.Published; !got.Equal(want) {
					t.Fatalf("item %d published: got %v, want %v", i, got, want)
				}
				if f.itemUpdated {
					if item.UpdatedParsed == nil {
						t.Fatalf("item %d: updated date missing", i)
					}
					if got, want := *item.UpdatedParsed, e.Updated; !got.Equal(want) {
						t.Fatalf("item %d updated: got %v, want %v", i, got, want)
					}
				}
				if got, want := item.Description, f.summary(wantSummaries[i]); got != want {
					t.Fatalf("item %d summary: got %q, want %q", i, got, want)
				}
				var wantInContent []string
				for _, h := range e.Page.Headlines {
					wantInContent = append(wantInContent, html.EscapeString(h.Title))
				}
				if l := e.Page.Lead; l != nil {
					wantInContent = append(wantInContent, "<h2>"+html.EscapeString(l.Title)+"</h2>")
					for _, b := range l.Blocks {
						if b.Type == digest.Paragraph {
							wantInContent = append(wantInContent, "<p>"+html.EscapeString(b.Text)+"</p>")
						}
					}
				}
				for _, s := range wantInContent {
					if !strings.Contains(item.Content, s) {
						t.Fatalf("item %d content lacks %q:\n%s", i, s, item.Content)
					}
				}
			}
		})
	}
}

// TestRenderHomeLink checks each feed links to the site's home page: RSS
// <link>, Atom <link rel="alternate">, JSON Feed home_page_url.
func TestRenderHomeLink(t *testing.T) {
	set := render(t, testEditions(t))
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			feed := parseFeed(t, f.doc(set).Body())
			if got, want := feed.Link, testBase; got != want {
				t.Fatalf("home page link: got %q, want %q", got, want)
			}
		})
	}
}

func TestRenderRSSDetails(t *testing.T) {
	editions := testEditions(t)
	body := render(t, editions).RSS.Body()

	var doc struct {
		Channel struct {
			Items []struct {
				GUID struct {
					Value       string `xml:",chardata"`
					IsPermaLink string `xml:"isPermaLink,attr"`
				} `xml:"guid"`
			} `xml:"item"`
		} `xml:"channel"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode RSS: %v", err)
	}
	if got, want := len(doc.Channel.Items), len(editions); got != want {
		t.Fatalf("items: got %d, want %d", got, want)
	}
	for i, item := range doc.Channel.Items {
		if got, want := item.GUID.Value, editions[i].FeedID; got != want {
			t.Fatalf("item %d guid: got %q, want %q", i, got, want)
		}
		if got, want := item.GUID.IsPermaLink, "false"; got != want {
			t.Fatalf("item %d guid isPermaLink: got %q, want %q", i, got, want)
		}
	}

	self := bytes.Index(body, []byte(`<atom:link href="`+testBase+RSSFile+`" rel="self"`))
	first := bytes.Index(body, []byte("<item>"))
	if self < 0 || first < 0 {
		t.Fatalf("self link at %d, first item at %d: want both present\n%s", self, first, body)
	}
	if self > first {
		t.Fatalf("the atom:link rel=self (at %d) comes after the first <item> (at %d)", self, first)
	}
	if got, want := bytes.Count(body, []byte("<atom:link ")), 1; got != want {
		t.Fatalf("atom:link elements: got %d, want %d", got, want)
	}
}

func TestRenderAtomDetails(t *testing.T) {
	body := render(t, testEditions(t)).Atom.Body()
	feed, err := (&atom.Parser{}).Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse Atom: %v", err)
	}
	if got, want := feed.ID, testFeedID; got != want {
		t.Fatalf("feed id: got %q, want %q", got, want)
	}
	if len(feed.Authors) == 0 || feed.Authors[0].Name == "" {
		t.Fatalf("feed author: got %+v, want a named author", feed.Authors)
	}
	if got, want := feed.Authors[0].Name, testTitle; got != want {
		t.Fatalf("feed author: got %q, want %q", got, want)
	}
	// The summaries are plain text (two of the three editions have a lead).
	if got, want := bytes.Count(body, []byte(`<summary type="text">`)), 2; got != want {
		t.Fatalf("<summary type=\"text\"> elements: got %d, want %d\n%s", got, want, body)
	}
	if got, want := bytes.Count(body, []byte(`<summary`)), 2; got != want {
		t.Fatalf("<summary> elements: got %d, want %d", got, want)
	}

	self := bytes.Index(body, []byte(`<link href="`+testBase+AtomFile+`" rel="self"`))
	first := bytes.Index(body, []byte("<entry>"))
	if self < 0 || first < 0 {
		t.Fatalf("self link at %d, first entry at %d: want both present\n%s", self, first, body)
	}
	if self > first {
		t.Fatalf("the self link (at %d) comes after the first <entry> (at %d)", self, first)
	}
}

func TestRenderJSONDetails(t *testing.T) {
	body := render(t, testEditions(t)).JSON.Body()
	var doc struct {
		Version     string `json:"version"`
		HomePageURL string `json:"home_page_url"`
		FeedURL     string `json:"feed_url"`
		Items       []struct {
			ID      string `json:"id"`
			Summary string `json:"summary"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode JSON Feed: %v", err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"version", doc.Version, "https://jsonfeed.org/version/1.1"},
		{"home_page_url", doc.HomePageURL, testBase},
		{"feed_url", doc.FeedURL, testBase + JSONFile},
		{"first summary", doc.Items[0].Summary, "Forecasters say <b>& temperatures will drop below zero."},
	} {
		if c.got != c.want {
			t.Fatalf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestRenderMaxItems(t *testing.T) {
	const n = MaxItems + 5
	start := time.Date(2026, 12, 31, 6, 0, 0, 0, time.UTC)
	editions := make([]digest.Edition, n)
	for i := range editions {
		day := start.AddDate(0, 0, -i)
		editions[i] = buildEdition(t, day.Format(digest.DayLayout), digest.FrontPage{
			Headlines: []digest.Headline{{Title: fmt.Sprintf("Headline number %d", i)}},
		}, day, day.Add(time.Hour))
	}
	// An edition past the limit with the newest update must not count.
	editions[n-1].Updated = start.AddDate(1, 0, 0)
	set := render(t, editions)
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			feed := parseFeed(t, f.doc(set).Body())
			if got, want := len(feed.Items), MaxItems; got != want {
				t.Fatalf("items: got %d, want %d", got, want)
			}
			if got, want := feed.Items[0].GUID, editions[0].FeedID; got != want {
				t.Fatalf("first item: got %q, want %q", got, want)
			}
			if got, want := feed.Items[MaxItems-1].GUID, editions[MaxItems-1].FeedID; got != want {
				t.Fatalf("last item: got %q, want %q", got, want)
			}
			if f.feedType != "json" {
				if got, want := *feed.UpdatedParsed, editions[0].Updated; !got.Equal(want) {
					t.Fatalf("feed updated: got %v, want %v", got, want)
				}
			}
		})
	}
}

func TestRenderDeterministic(t *testing.T) {
	first := render(t, testEditions(t))
	second := render(t, testEditions(t))
	changedEditions := testEditions(t)
	changedEditions[0].Page.Headlines[0].Title = "Council rejects the new bridge"
	changed := render(t, changedEditions)
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			a, b := f.doc(first), f.doc(second)
			if !bytes.Equal(a.Body(), b.Body()) {
				t.Fatalf("two renderings differ:\n%s\n---\n%s", a.Body(), b.Body())
			}
			if got, want := b.ETag(), a.ETag(); got != want {
				t.Fatalf("ETag: got %q, want %q", got, want)
			}
			c := f.doc(changed)
			if bytes.Equal(a.Body(), c.Body()) {
				t.Fatalf("changing a headline did not change the feed")
			}
			if c.ETag() == a.ETag() {
				t.Fatalf("changing a headline did not change the ETag %q", a.ETag())
			}
		})
	}
}

func TestRenderSpecialCharacters(t *testing.T) {
	const (
		nasty    = `Rates ]]> 5% & <rising> "fast"`
		nastyURL = "https://news.example.org/a?x=1&y=]]>"
	)
	e := buildEdition(t, "2026-11-28", digest.FrontPage{
		Headlines: []digest.Headline{
			{Title: "Headline " + nasty, URL: nastyURL},
			{Title: "Plain ]]]]>< text"},
		},
		Lead: &digest.Lead{
			Section: "Section " + nasty,
			Title:   "Lead " + nasty,
			Credit:  "Credit " + nasty,
			Blocks: []digest.Block{
				{Type: digest.Heading, Text: "Heading " + nasty},
				{Type: digest.Paragraph, Text: "Paragraph " + nasty},
			},
		},
	}, time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC), time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC))
	set := render(t, []digest.Edition{e})
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			body := f.doc(set).Body()
			if f.feedType == "json" {
				if !json.Valid(body) {
					t.Fatalf("invalid JSON:\n%s", body)
				}
			} else {
				checkWellFormed(t, body)
			}
			feed := parseFeed(t, body)
			if got, want := len(feed.Items), 1; got != want {
				t.Fatalf("items: got %d, want %d", got, want)
			}
			item := feed.Items[0]
			if got, want := item.Title, "Lead "+nasty; got != want {
				t.Fatalf("title: got %q, want %q", got, want)
			}
			if got, want := item.Description, f.summary("Paragraph "+nasty); got != want {
				t.Fatalf("summary: got %q, want %q", got, want)
			}
			for _, s := range []string{
				html.EscapeString("Headline " + nasty),
				html.EscapeString("Plain ]]]]>< text"),
				"<h2>" + html.EscapeString("Lead "+nasty) + "</h2>",
				"<h3>" + html.EscapeString("Heading "+nasty) + "</h3>",
				"<p>" + html.EscapeString("Paragraph "+nasty) + "</p>",
			} {
				if !strings.Contains(item.Content, s) {
					t.Fatalf("content lacks %q:\n%s", s, item.Content)
				}
			}
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	set := render(t, nil)
	epoch := time.Unix(0, 0).UTC()
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			body := f.doc(set).Body()
			if f.feedType != "json" {
				checkWellFormed(t, body)
			}
			feed := parseFeed(t, body)
			if got, want := feed.FeedType, f.feedType; got != want {
				t.Fatalf("feed type: got %q, want %q", got, want)
			}
			if got, want := feed.Title, testTitle; got != want {
				t.Fatalf("feed title: got %q, want %q", got, want)
			}
			if got, want := feed.FeedLink, testBase+f.file; got != want {
				t.Fatalf("self link: got %q, want %q", got, want)
			}
			if got, want := len(feed.Items), 0; got != want {
				t.Fatalf("items: got %d, want %d", got, want)
			}
			if f.feedType != "json" {
				if got, want := *feed.UpdatedParsed, epoch; !got.Equal(want) {
					t.Fatalf("feed updated: got %v, want %v", got, want)
				}
			}
		})
	}
	// JSON Feed 1.1: "items (array, required)", even when empty.
	t.Run("JSON items array", func(t *testing.T) {
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(set.JSON.Body(), &doc); err != nil {
			t.Fatalf("decode JSON Feed: %v", err)
		}
		items, ok := doc["items"]
		if !ok {
			t.Fatalf("the empty JSON Feed has no \"items\" member (required by JSON Feed 1.1):\n%s", set.JSON.Body())
		}
		if got, want := string(items), "[]"; got != want {
			t.Fatalf("items: got %s, want %s", got, want)
		}
	})
}

func TestRenderFiles(t *testing.T) {
	set := render(t, testEditions(t))
	files := set.Files()
	if got, want := len(files), 3; got != want {
		t.Fatalf("files: got %d, want %d", got, want)
	}
	for _, f := range feedFormats {
		t.Run(f.name, func(t *testing.T) {
			b, ok := files[f.file]
			if !ok {
				t.Fatalf("no file %q", f.file)
			}
			if !bytes.Equal(b, f.doc(set).Body()) {
				t.Fatalf("file %q differs from the document body", f.file)
			}
		})
	}
}

type failingRenderer struct{ err error }

func (r failingRenderer) EditionHTML(digest.Edition) (string, error) { return "", r.err }

func TestRenderContentError(t *testing.T) {
	boom := errors.New("template exploded")
	set, err := Render(testMeta(t), testEditions(t), failingRenderer{boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Render error: got %v, want one wrapping %v", err, boom)
	}
	if set != nil {
		t.Fatalf("Render returned a set along with the error")
	}
}

// TestRenderRSSTextAsHexReferences: "&", "<" and ">" in RSS titles and
// the channel description are hexadecimal references (the W3C validator
// warns otherwise), and read back as the same text.
func TestRenderRSSTextAsHexReferences(t *testing.T) {
	meta := testMeta(t)
	meta.Title = "Smith & <Sons> Daily"
	meta.Description = "News & more"
	e := buildEdition(t, "2026-11-27", digest.FrontPage{
		Headlines: []digest.Headline{{Title: "x"}},
		Lead:      &digest.Lead{Title: `Rates < 5% & "falling"`, Blocks: []digest.Block{{Type: digest.Paragraph, Text: "p."}}},
	}, testNewest, testNewest)
	set, err := Render(meta, []digest.Edition{e}, testRenderer(t))
	if err != nil {
		t.Fatal(err)
	}
	body := string(set.RSS.Body())
	for _, want := range []string{"<title>Smith &#x26; &#x3C;Sons&#x3E; Daily</title>", "<description>News &#x26; more</description>",
		"<title>Rates &#x3C; 5% &#x26; &#34;falling&#34;</title>"} {
		if !strings.Contains(body, want) {
			t.Errorf("RSS lacks %s", want)
		}
	}
	feed, err := gofeed.NewParser().ParseString(body)
	if err != nil {
		t.Fatal(err)
	}
	if feed.Title != meta.Title || feed.Items[0].Title != `Rates < 5% & "falling"` {
		t.Errorf("read back: %q, %q", feed.Title, feed.Items[0].Title)
	}
}
