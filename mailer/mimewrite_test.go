package mailer

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEncodeWordsLength: RFC 2047 allows an encoded-word of at most 75
// characters; a longer text is split into several, each decoding on its
// own to whole characters, and together to the text.
func TestEncodeWordsLength(t *testing.T) {
	const open, close = "=?UTF-8?q?", "?="
	room := 75 - len(open) - len(close)
	tests := []struct {
		name  string
		s     string
		words int // -1: do not check the count
	}{
		{"exactly one word's room", strings.Repeat("a", room), 1},
		{"one more", strings.Repeat("a", room+1), 2},
		{"a long word", "Breaking: " + strings.Repeat("x", 200), -1},
		{"three-octet characters across the limit", strings.Repeat("a€", 60), -1},
		{"phrase specials", strings.Repeat(`"Quoted", and (commented) `, 5), -1},
	}
	dec := new(mime.WordDecoder)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeWords(tt.s)
			words := strings.Split(got, " ")
			if tt.words >= 0 && len(words) != tt.words {
				t.Errorf("%d encoded-words, want %d: %q", len(words), tt.words, got)
			}
			var whole strings.Builder
			for _, w := range words {
				if len(w) > 75 || !strings.HasPrefix(w, open) || !strings.HasSuffix(w, close) {
					t.Fatalf("encoded-word %q: want %s…%s within 75 characters", w, open, close)
				}
				if strings.ContainsAny(w, `",()<>@:;`) {
					t.Errorf("encoded-word %q holds a character a phrase may not", w)
				}
				d, err := dec.Decode(w)
				if err != nil || !utf8.ValidString(d) {
					t.Fatalf("encoded-word %q decodes to %q, %v: want whole characters", w, d, err)
				}
				whole.WriteString(d)
			}
			if whole.String() != tt.s {
				t.Errorf("decoded %q, want %q", whole.String(), tt.s)
			}
		})
	}
}

// TestEncodeHeaderValue: only runs of words with non-ASCII characters are
// encoded, a run as one encoded-word, so machine-read parts stay readable.
func TestEncodeHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Daily Brief <daily.example.com>", "Daily Brief <daily.example.com>"},
		{"Le café crème <x.example.com>", "Le =?UTF-8?q?caf=C3=A9_cr=C3=A8me?= <x.example.com>"},
		{"café au crème", "=?UTF-8?q?caf=C3=A9?= au =?UTF-8?q?cr=C3=A8me?="},
		{"é", "=?UTF-8?q?=C3=A9?="},
	}
	for _, tt := range tests {
		if got := encodeHeaderValue(tt.in); got != tt.want {
			t.Errorf("encodeHeaderValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
