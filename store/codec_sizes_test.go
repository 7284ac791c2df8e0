package store

import (
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

// TestHotRecordAnyLengths: a record round-trips whatever the lengths of
// address and name, a name far longer than the address included.
func TestHotRecordAnyLengths(t *testing.T) {
	for _, c := range []struct{ email, name string }{
		{"a@b.c", strings.Repeat("Ann-Kathrin ", 20)},
		{strings.Repeat("x", 200) + "@example.com", ""},
		{"", ""},
		{"ann@example.com", "Ann"},
	} {
		in := digest.Subscriber{Email: c.email, Name: c.name, Status: digest.Active, Format: digest.FormatHTML}
		var out digest.Subscriber
		if err := decodeHot(3, encodeHot(&in), &out); err != nil || out.Email != c.email || out.Name != c.name || out.Format != digest.FormatHTML {
			t.Errorf("%q %q: %+v %v", c.email, c.name, out, err)
		}
	}
}
