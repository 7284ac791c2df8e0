package mailer

import (
	"bytes"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The helpers below write MIME by hand for Digest, which assembles each
// subscriber's message from parts encoded once per edition. They append to
// a byte slice and allocate nothing on the common path.

// foldWidth is where header lines are folded when they can be (RFC 5322
// recommends 78 characters); maxLineLength (998) is the hard limit.
const foldWidth = 78

// qpLineLength is the longest encoded line quoted-printable allows, the
// "=" of a soft line break included (RFC 2045).
const qpLineLength = 76

// softBreak is a quoted-printable soft line break: it decodes to nothing.
const softBreak = "=\r\n"

// appendHeader appends the field "name: value" and its CRLF, folded
// before a space where a line would pass foldWidth. value holds no CR or LF
// (callers check or build it so). It reports false, appending nothing,
// when a word is too long for any line.
func appendHeader(dst []byte, name, value string) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	col := len(name) + 2
	first := true
	for word := range strings.SplitSeq(value, " ") {
		if !first {
			if col+1+len(word) > foldWidth {
				dst = append(dst, '\r', '\n')
				col = 0
			}
			dst = append(dst, ' ')
			col++
		}
		if col+len(word) > maxLineLength {
			return dst[:start], false
		}
		dst = append(dst, word...)
		col += len(word)
		first = false
	}
	return append(dst, '\r', '\n'), true
}

// phrase returns s as an RFC 5322 phrase (a display name): as it is when
// it is plain words, quoted when it holds specials, RFC 2047 encoded when
// it holds characters beyond ASCII or a word too long for a header line.
func phrase(s string) string {
	if s == "" {
		return ""
	}
	if !isASCII(s) || hasLongWord(s) {
		return encodeWords(s)
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) && s[i] != ' ' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// unstructured returns s as the value of an unstructured field (Subject):
// as it is when ASCII with no word too long to fold, else RFC 2047
// encoded.
func unstructured(s string) string {
	switch {
	case hasLongWord(s):
		return encodeWords(s)
	case isASCII(s):
		return s
	}
	return mime.QEncoding.Encode(charset, s)
}

// encodeWords returns s as RFC 2047 Q-encoded words of at most 75
// characters each, separated by spaces so the field can be folded between
// them. Unlike mime.QEncoding it encodes plain ASCII too (a long word must
// be encoded to be folded), and it leaves only the characters RFC 2047
// allows in a phrase unencoded (mime.QEncoding leaves commas and quotes,
// which strict parsers of an address list trip on). It never splits a
// character.
func encodeWords(s string) string {
	const open, close = "=?" + charset + "?q?", "?="
	const room = 75 - len(open) - len(close)
	var b strings.Builder
	b.Grow(len(s) * 3)
	n := 0
	b.WriteString(open)
	for _, r := range s {
		var enc [utf8.UTFMax * 3]byte
		e := enc[:0]
		var raw [utf8.UTFMax]byte
		for _, c := range raw[:utf8.EncodeRune(raw[:], r)] {
			switch {
			case c == ' ':
				e = append(e, '_')
			case c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!*+-/", c) >= 0):
				e = append(e, c)
			default:
				e = append(e, '=', upperhex[c>>4], upperhex[c&15])
			}
		}
		if n+len(e) > room {
			b.WriteString(close + " " + open)
			n = 0
		}
		b.Write(e)
		n += len(e)
	}
	b.WriteString(close)
	return b.String()
}

// hasLongWord reports whether s has a space-separated word too long to
// stand on a folded line.
func hasLongWord(s string) bool {
	for word := range strings.SplitSeq(s, " ") {
		if len(word) > foldWidth-12 { // room for "Subject: " and friends
			return true
		}
	}
	return false
}

// isAtext reports whether c may stand unquoted in a phrase (RFC 5322
// atext).
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// cleanName returns a display name with control characters and runs of
// white space made single spaces: a subscriber's name can never break a
// header line.
func cleanName(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && (unicode.IsSpace(r) || unicode.IsControl(r)) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean && !strings.Contains(s, "  ") && strings.TrimSpace(s) == s {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	}), " ")
}

const upperhex = "0123456789ABCDEF"

// encodeQP returns s quoted-printable encoded, with CRLF line breaks,
// starting at the beginning of a line. Its last line has no line break.
func encodeQP(s string) []byte {
	var buf bytes.Buffer
	buf.Grow(len(s) + len(s)/8)
	w := quotedprintable.NewWriter(&buf)
	// Writing to a bytes.Buffer cannot fail.
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return buf.Bytes()
}

// appendQPValue appends a personal value (a link, an address) quoted-
// printable encoded. It stands between two soft line breaks, so it starts
// a line; it is broken with soft line breaks where it is longer than a
// line may be.
func appendQPValue(dst []byte, s string) []byte {
	col := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		n := 1
		if c < '!' || c > '~' || c == '=' {
			n = 3
		}
		if col+n > qpLineLength-1 {
			dst = append(dst, softBreak...)
			col = 0
		}
		if n == 1 {
			dst = append(dst, c)
		} else {
			dst = append(dst, '=', upperhex[c>>4], upperhex[c&15])
		}
		col += n
	}
	return dst
}

// htmlEscaper escapes a value for HTML text or a quoted attribute.
var htmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;")

// escapeHTML escapes s, allocating only when s needs it.
func escapeHTML(s string) string {
	if !strings.ContainsAny(s, `&<>"'`) {
		return s
	}
	return htmlEscaper.Replace(s)
}
