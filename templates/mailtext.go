package templates

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/broadsheet-news/broadsheet/digest"
)

// textWidth is where the text part's lines are wrapped, in characters.
const textWidth = 76

// maxPreheader bounds the preheader, in characters.
const maxPreheader = 160

// wrapText tidies a rendered text part: trailing spaces go (but for the
// "-- " signature separator), runs of blank lines become one, and lines
// wider than width characters are wrapped at spaces. A continuation line
// keeps the line's indent, plus two spaces after a "* " or "- " item
// marker. A word wider than width (a long URL) keeps a line of its own:
// the quoted-printable encoding of the part keeps every line on the wire
// short whatever the text holds.
func wrapText(s string, width int) string {
	var b strings.Builder
	// A capacity hint.
	// Equivalent mutant (ARITHMETIC_BASE): `-` or `*` only change the capacity reserved (never below 0), not what is written.
	b.Grow(len(s) + len(s)/32)
	blank := true // at the start, blank lines are dropped
	for line := range strings.SplitSeq(s, "\n") {
		if line != "-- " {
			line = strings.TrimRightFunc(line, unicode.IsSpace)
		}
		if line == "" {
			if !blank {
				b.WriteByte('\n')
			}
			blank = true
			continue
		}
		blank = false
		wrapLine(&b, line, width)
	}
	out := strings.TrimRight(b.String(), "\n")
	return out + "\n"
}

// wrapLine writes line to b, wrapped at width, each output line ending in
// "\n".
func wrapLine(b *strings.Builder, line string, width int) {
	if utf8.RuneCountInString(line) <= width {
		b.WriteString(line)
		b.WriteByte('\n')
		return
	}
	indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
	rest := line[len(indent):]
	hanging := indent
	if strings.HasPrefix(rest, "* ") || strings.HasPrefix(rest, "- ") {
		hanging += "  "
	}
	col := 0
	prefix := indent
	for word := range strings.FieldsSeq(rest) {
		n := utf8.RuneCountInString(word)
		switch {
		case col == 0:
			b.WriteString(prefix)
			col = utf8.RuneCountInString(prefix)
		case col+1+n > width:
			b.WriteByte('\n')
			b.WriteString(hanging)
			col = len(hanging)
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(word)
		col += n
		prefix = hanging
	}
	b.WriteByte('\n')
}

// preheader is the line inbox lists show after the subject: the first
// sentence of the lead's first paragraph, or else the first headline.
func preheader(e digest.Edition) string {
	s := firstSentence(e.Page.Lead.FirstParagraph())
	if s == "" && len(e.Page.Headlines) > 0 {
		s = e.Page.Headlines[0].Title
	}
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= maxPreheader {
		return s
	}
	// Cut at the last space that leaves room for the "…": one standing
	// just after the first maxPreheader-1 characters still counts.
	cut, n := 0, 0
	for i := range s {
		if s[i] == ' ' {
			cut = i
		}
		if n == maxPreheader-1 {
			if cut == 0 {
				cut = i
			}
			break
		}
		n++
	}
	return strings.TrimRight(s[:cut], " ,;:") + "…"
}

// abbreviations end in a period that does not end a sentence.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true, "jr": true, "sr": true,
	"gen": true, "gov": true, "sen": true, "rep": true, "rev": true, "lt": true, "col": true, "capt": true,
	"sgt": true, "inc": true, "co": true, "corp": true, "ltd": true, "no": true, "vs": true, "etc": true,
	"approx": true, "jan": true, "feb": true, "mar": true, "apr": true, "aug": true, "sept": true,
	"oct": true, "nov": true, "dec": true,
}

// firstSentence returns p up to the end of its first sentence: a ".", "!"
// or "?" (with any closing quotes or brackets) before a space, unless the
// word it ends is an initial or an abbreviation ("U.S.", "Mr.").
func firstSentence(p string) string {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		end := i + 1
		// Equivalent mutant (CONDITIONALS_BOUNDARY): at `end == len(p)` the rune decoded from "" is utf8.RuneError, no closing mark: the loop stops there all the same.
		for end < len(p) {
			r, size := utf8.DecodeRuneInString(p[end:])
			if !strings.ContainsRune(`"'”’)]»`, r) {
				break
			}
			end += size
		}
		if end < len(p) && p[end] != ' ' {
			continue
		}
		if c == '.' {
			word := p[strings.LastIndexByte(p[:i], ' ')+1 : i]
			word = strings.TrimLeft(word, `"'“‘([`)
			if utf8.RuneCountInString(word) == 1 || strings.Contains(word, ".") || abbreviations[strings.ToLower(word)] {
				continue
			}
		}
		return p[:end]
	}
	return p
}
