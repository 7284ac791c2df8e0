package digest

import (
	"fmt"
	"strings"
	"time"
)

// DayLayout is the form of an edition ID: the day in the configured zone.
const DayLayout = "2006-01-02"

// Edition is one day's front page as broadsheet publishes it.
type Edition struct {
	// ID is the edition's day in the configured time zone, e.g. "2026-11-27".
	ID string
	// FeedID is the permanent tag: URI used as feed GUID and Atom id. It is
	// minted when the edition is first stored and never changes.
	FeedID string
	// Published is the edition's date in feeds: its day at the schedule's
	// time. Created is when it was first stored, Updated when its content
	// last changed.
	Published time.Time
	Created   time.Time
	Updated   time.Time
	// Hash is the content hash of Page (FrontPage.Hash).
	Hash string
	Page FrontPage
}

// Summary is what an archive lists of an edition.
type Summary struct {
	ID      string
	Title   string
	Updated time.Time
}

// Outcome says what storing an edition did.
type Outcome int

// The outcomes of storing an edition.
const (
	Unchanged Outcome = iota // same content as stored: nothing changed
	Created                  // the day had no edition
	Changed                  // new content for a stored day
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Changed:
		return "updated"
	default:
		return "unchanged"
	}
}

// Build makes the edition of day (YYYY-MM-DD) from page. FeedID and the
// timestamps are set when the edition is stored.
func Build(day string, page FrontPage) (Edition, error) {
	if _, err := ParseDay(day); err != nil {
		return Edition{}, err
	}
	if len(page.Headlines) == 0 && page.Lead == nil {
		return Edition{}, sourceErrorf("the front page is empty: it has no headlines and no lead")
	}
	page = page.normalized()
	return Edition{ID: day, Page: page, Hash: page.Hash()}, nil
}

// Title is the edition's title: its lead's title, or "Headlines for <day>".
func (e Edition) Title() string {
	if e.Page.Lead != nil && e.Page.Lead.Title != "" {
		return e.Page.Lead.Title
	}
	return "Headlines for " + e.ID
}

// Summary returns the lead's first paragraph, or "".
func (e Edition) Summary() string { return e.Page.Lead.FirstParagraph() }

// ParseDay checks that s is a day in YYYY-MM-DD form and returns it as
// midnight UTC.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse(DayLayout, s)
	if err != nil || t.Format(DayLayout) != s {
		return time.Time{}, fmt.Errorf("digest: %q is not a day in YYYY-MM-DD form", s)
	}
	return t, nil
}

// Day returns the edition ID for the instant t in loc.
func Day(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(DayLayout)
}

// TagURI mints the permanent id of the edition of day under host (RFC 4151):
// tag:example.com,2026-11-27:edition. host is a host name without a port,
// as url.URL.Hostname returns it.
func TagURI(host, day string) string { return tagURI(host, day, "edition") }

// FeedTagURI mints the feed's own permanent id (the Atom feed id), minted on
// the day it is first asked for: tag:example.com,2026-11-27:feed.
func FeedTagURI(host, day string) string { return tagURI(host, day, "feed") }

func tagURI(host, day, what string) string {
	return "tag:" + strings.ToLower(host) + "," + day + ":" + what
}
