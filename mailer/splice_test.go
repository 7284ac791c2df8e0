package mailer

import (
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// TestSplicedPartRoundTrip: whatever surrounds a personal value, the part
// assembled from encoded segments decodes to the text with the value in
// place, in lines of at most 76 octets.
func TestSplicedPartRoundTrip(t *testing.T) {
	const stem = "bspstem"
	marks := [slotCount]string{stem + "emailx", stem + "unsubscribex", stem + "preferencesx"}
	e, u, p := marks[slotEmail], marks[slotUnsubscribe], marks[slotPreferences]
	tests := []struct {
		name, text string
	}{
		{"no value", "just text\n"},
		{"value first and last", u + " middle " + e},
		{"adjacent values", "a" + u + p + e + "b\n"},
		{"after a space", "to: " + e + "\n"},
		{"before trailing spaces", e + "   \nnext\n"},
		{"at the end of a long line", strings.Repeat("x", 80) + u + "\n"},
		{"amid non-ASCII", "café " + e + " – naïve\n" + strings.Repeat("é", 60) + p},
		{"equals signs", "a=b " + u + "=c\n"},
	}
	values := [][slotCount]string{
		{"reader@example.org", "https://news.example.com/unsubscribe/abc", "https://news.example.com/preferences/def"},
		{"o'brien+tag@example.org", "https://news.example.com/unsubscribe/" + strings.Repeat("A", 200), "http://x/p?a=1&b=2"},
		{"zoë@exämple.org", "https://news.example.com/u/=x", "https://h/" + strings.Repeat("é", 50)},
	}
	for _, tt := range tests {
		for _, html := range []bool{false, true} {
			part, err := splice(tt.text, stem, marks, html)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for _, vals := range values {
				encoded := part.appendEncoded(nil, &vals)
				for line := range strings.SplitSeq(string(encoded), "\r\n") {
					if len(line) > 76 {
						t.Errorf("%s: encoded line of %d octets: %q", tt.name, len(line), line)
					}
				}
				decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(string(encoded))))
				if err != nil {
					t.Fatalf("%s: decode: %v", tt.name, err)
				}
				want := part.decoded(&vals)
				if got := strings.ReplaceAll(string(decoded), "\r\n", "\n"); got != want {
					t.Errorf("%s (html %v): decodes to\n%q\nwant\n%q", tt.name, html, got, want)
				}
				if html && strings.Contains(want, "o'brien") {
					t.Errorf("%s: a value was not HTML-escaped in the HTML part", tt.name)
				}
			}
		}
	}
	if _, err := splice("Sent to "+strings.ToUpper(e), stem, marks, false); err == nil {
		t.Errorf("a changed placeholder was not refused")
	}
}
