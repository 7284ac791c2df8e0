package digest

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseText checks that no input makes the reader panic, and that what
// it returns keeps the reader's promises. The corpus is in
// testdata/fuzz/FuzzParseText.
func FuzzParseText(f *testing.F) {
	f.Add(string(sample))
	f.Add("One\nTwo\nSection\n\nTitle\nCredit\nBody.\n")
	f.Add("\uFEFF\r\n\u00a0...\r…\n\nAdvertisement\n")
	f.Add("A...\n\n\n)\n\"\n")
	f.Fuzz(func(t *testing.T, in string) {
		page, err := ParseText(strings.NewReader(in))
		if err != nil {
			if !IsSourceError(err) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if len(page.Headlines) == 0 {
			t.Fatal("a page without an error must have headlines")
		}
		check := func(what, s string) {
			if s == "" && what != "section" && what != "credit" {
				t.Errorf("empty %s", what)
			}
			if !utf8.ValidString(s) || s != strings.TrimFunc(s, unicode.IsSpace) {
				t.Errorf("%s %q is not valid trimmed UTF-8", what, s)
			}
			for _, r := range s {
				if unicode.IsControl(r) {
					t.Errorf("%s %q holds a control character", what, s)
				}
			}
		}
		for _, h := range page.Headlines {
			check("headline", h.Title)
			if h.Truncated != strings.HasSuffix(h.Title, "…") && h.Truncated {
				t.Errorf("truncated headline %q without …", h.Title)
			}
		}
		if l := page.Lead; l != nil {
			check("section", l.Section)
			check("title", l.Title)
			check("credit", l.Credit)
			for _, b := range l.Blocks {
				check(string(b.Type), b.Text)
			}
		}
		if _, err := json.Marshal(page); err != nil {
			t.Fatalf("page does not marshal: %v", err)
		}
	})
}
