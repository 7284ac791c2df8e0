package templates

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

func renderPage(t *testing.T, name string, p Page) string {
	t.Helper()
	set, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := set.Render(&out, name, p); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestCanonical: the latest edition shown at home is canonical at the
// site's root, any other at its own page; without the site's URL, or
// without an edition, there is no canonical link.
func TestCanonical(t *testing.T) {
	e := leadEdition("The lead says something.")
	links := Links{Site: "https://news.example.com/news/"}
	tests := []struct {
		name string
		page Page
		want string
	}{
		{"latest", Page{Edition: &e, Latest: true, Links: links}, "https://news.example.com/news/"},
		{"older", Page{Edition: &e, Links: links}, "https://news.example.com/news/editions/2026-11-27"},
		{"no site URL", Page{Edition: &e}, ""},
		{"no edition", Page{Links: links}, ""},
	}
	for _, tt := range tests {
		if got := tt.page.Canonical(); got != tt.want {
			t.Errorf("%s: Canonical = %q, want %q", tt.name, got, tt.want)
		}
	}
	got := renderPage(t, EditionPage, Page{SiteTitle: "Daily", Edition: &e, Links: links})
	for _, want := range []string{
		`<link rel="canonical" href="https://news.example.com/news/editions/2026-11-27">`,
		`<meta property="og:url" content="https://news.example.com/news/editions/2026-11-27">`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the edition page lacks %s", want)
		}
	}
}

// TestDescription: the meta description is the lead's first paragraph
// on one line, whole up to 160 characters; a longer one is cut at a word
// past the middle (or at 160 when no space is there), loses trailing
// punctuation and ends in "…". Without a lead it is a line about the
// site, which the page shows too.
func TestDescription(t *testing.T) {
	desc := func(lead string) string { e := leadEdition(lead); return Page{Edition: &e}.Description() }
	exact := strings.Repeat("é", maxDescription-2) + " x"
	if got := desc(exact); got != exact {
		t.Errorf("a %d-character paragraph became %q", maxDescription, got)
	}
	if got := desc("Two\n  lines."); got != "Two lines." {
		t.Errorf("spacing: %q", got)
	}
	// 161 characters: the last space within the first 160 is the cut.
	over := strings.Repeat("é", 100) + ", " + strings.Repeat("b", 58) + "c"
	if got, want := desc(over), strings.Repeat("é", 100)+"…"; got != want {
		t.Errorf("%d characters became\n%q\nwant\n%q", len([]rune(over)), got, want)
	}
	// The only space is at the middle: cut at the limit instead.
	early := strings.Repeat("a", maxDescription/2) + " " + strings.Repeat("b", 200)
	if got, want := desc(early), early[:maxDescription]+"…"; got != want {
		t.Errorf("a space at the middle: %q, want %q", got, want)
	}
	// A space just past the middle still counts.
	mid := strings.Repeat("a", maxDescription/2+1) + " " + strings.Repeat("b", 200)
	if got, want := desc(mid), strings.Repeat("a", maxDescription/2+1)+"…"; got != want {
		t.Errorf("a space past the middle: %q, want %q", got, want)
	}

	noLead := Page{SiteTitle: "Daily Brief", Edition: &digest.Edition{ID: "2026-11-27"}}
	site := "The daily edition of Daily Brief: the day's headlines and its lead story, on the web, by feed and by mail."
	if got := noLead.Description(); got != site {
		t.Errorf("no lead: %q", got)
	}
	if got := (Page{SiteTitle: "Daily Brief"}).Description(); got != site {
		t.Errorf("no edition: %q", got)
	}
	if got := renderPage(t, ArchivePage, Page{SiteTitle: "Daily Brief"}); !strings.Contains(got,
		`<meta name="description" content="The daily edition of Daily Brief: the day&#39;s headlines`) {
		t.Errorf("the archive page lacks the site's description:\n%s", got)
	}
}

// TestFavicon: the icon is the embedded SVG, byte for byte.
func TestFavicon(t *testing.T) {
	want, err := os.ReadFile("web/" + FaviconFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := Favicon(); !bytes.Equal(got, want) || !bytes.Contains(got, []byte("<svg")) {
		t.Errorf("Favicon = %q", got)
	}
}
