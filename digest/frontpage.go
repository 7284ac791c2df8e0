// Package digest holds broadsheet's domain types — a front page and the
// edition built from it — and reads front pages from their sources.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// ErrNotFound is returned (wrapped) by anything that looks up an edition or
// another record that does not exist.
var ErrNotFound = errors.New("not found")

// FrontPage is what a source yields: a list of headlines and, optionally,
// one lead article.
type FrontPage struct {
	Headlines []Headline `json:"headlines"`
	Lead      *Lead      `json:"lead"`
}

// Headline is one entry of the headline list.
type Headline struct {
	Title string `json:"title"`
	// Truncated reports that the source cut the headline short; its Title
	// then ends in a single "…".
	Truncated bool `json:"truncated"`
	// URL is the headline's absolute link, empty when the source has none
	// (text dumps).
	URL string `json:"url"`
}

// Lead is the front page's lead article.
type Lead struct {
	Section string  `json:"section"`
	Title   string  `json:"title"`
	Credit  string  `json:"credit"`
	Blocks  []Block `json:"blocks"`
}

// BlockType tells a heading from a paragraph in a lead article's body.
type BlockType string

// The kinds of body block.
const (
	Paragraph BlockType = "paragraph"
	Heading   BlockType = "heading"
)

// Block is one heading or paragraph of a lead article's body.
type Block struct {
	Type BlockType `json:"type"`
	Text string    `json:"text"`
}

// FirstParagraph returns the text of the lead's first paragraph, or "".
func (l *Lead) FirstParagraph() string {
	if l == nil {
		return ""
	}
	for _, b := range l.Blocks {
		if b.Type == Paragraph {
			return b.Text
		}
	}
	return ""
}

// Hash returns the hex SHA-256 of the page's canonical JSON form: two pages
// with the same content have the same hash.
func (p FrontPage) Hash() string {
	// Marshalling a value of this shape cannot fail: it holds only strings,
	// bools, slices and a pointer to such a struct.
	b, _ := json.Marshal(p.normalized())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// normalized returns the page with nil slices made empty, so that a page and
// its JSON round trip hash and print alike.
func (p FrontPage) normalized() FrontPage {
	if p.Headlines == nil {
		p.Headlines = []Headline{}
	}
	if p.Lead != nil {
		l := *p.Lead
		if l.Blocks == nil {
			l.Blocks = []Block{}
		}
		p.Lead = &l
	}
	return p
}

// MarshalJSON prints the page in its documented shape: empty lists as [],
// a missing lead as null.
func (p FrontPage) MarshalJSON() ([]byte, error) {
	type plain FrontPage
	return json.Marshal(plain(p.normalized()))
}
