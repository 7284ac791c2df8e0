package digest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSourceSize is the largest source, in bytes, that broadsheet reads.
const MaxSourceSize = 5 << 20

// SourceError reports a source that cannot be read as a front page. Its
// message is one sentence meant for the person who supplied the source.
type SourceError struct {
	Reason string
	Err    error // the underlying error, if any
}

func (e *SourceError) Error() string { return e.Reason }

func (e *SourceError) Unwrap() error { return e.Err }

func sourceErrorf(format string, args ...any) error {
	return &SourceError{Reason: fmt.Sprintf(format, args...)}
}

// adMarkers are lines, compared ignoring case, dropped wherever they stand.
func adMarkers() [6]string {
	return [...]string{
		"advertisement",
		"sponsored",
		"sponsored content",
		"story continues below advertisement",
		"continue reading below",
		"skip advertisement",
	}
}

// Limits of the text-dump reading rules.
const (
	sectionMaxWords = 3
	creditMaxRunes  = 120
	headingMaxRunes = 80
)

// ParseText reads a front page saved as text (see README for the rules): a
// block of headlines, optionally ending with the lead's section label, then
// the lead article's title, credit and body, with ad markers and page
// furniture mixed in.
func ParseText(r io.Reader) (FrontPage, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSourceSize+1))
	if err != nil {
		return FrontPage{}, &SourceError{Reason: "the source could not be read: " + err.Error(), Err: err}
	}
	if len(data) > MaxSourceSize {
		return FrontPage{}, sourceErrorf("the source is larger than %d MiB", MaxSourceSize>>20)
	}
	lines, err := textLines(data)
	if err != nil {
		return FrontPage{}, err
	}
	return readLines(lines)
}

// textLines decodes data into trimmed lines, ad markers removed. Blank lines
// are kept as "" because they separate the headline block from the rest.
func textLines(data []byte) ([]string, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, sourceErrorf("the source is not UTF-8 text (first bad byte at offset %d)", invalidUTF8Offset(data))
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	raw := strings.Split(text, "\n")
	lines := make([]string, 0, len(raw))
	blank := true
	for _, l := range raw {
		l = strings.TrimFunc(cleanLine(l), unicode.IsSpace)
		if isAdMarker(l) {
			continue
		}
		if l != "" {
			blank = false
		}
		lines = append(lines, l)
	}
	if blank {
		return nil, sourceErrorf("the source is empty: it has no headlines")
	}
	return lines, nil
}

// cleanLine turns tabs into spaces and drops characters that may not appear
// in XML or HTML text (C0/C1 controls, U+FFFE, U+FFFF), so nothing read here
// can break a feed or an email.
func cleanLine(s string) string {
	clean := true
	for _, r := range s {
		// Equivalent mutant (CONDITIONALS_NEGATION): `!=` on either noncharacter only sends a clean line through strings.Map below, which gives it back unchanged.
		if unicode.IsControl(r) || r == '\uFFFE' || r == '\uFFFF' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r), r == '\uFFFE', r == '\uFFFF':
			return -1
		}
		return r
	}, s)
}

func invalidUTF8Offset(data []byte) int {
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `i <= len(data)` decodes "" at the end, a RuneError of size 0, and returns len(data) there, as below.
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

func isAdMarker(line string) bool {
	if len(line) > len("story continues below advertisement") {
		return false
	}
	for _, m := range adMarkers() {
		if strings.EqualFold(line, m) {
			return true
		}
	}
	return false
}

// readLines applies the text-dump rules to cleaned lines.
func readLines(lines []string) (FrontPage, error) {
	i := 0
	// Equivalent mutant (CONDITIONALS_BOUNDARY): `i <= len(lines)` would index past the end only if every line were blank, which textLines refuses.
	for i < len(lines) && lines[i] == "" {
		i++
	}
	start := i
	for i < len(lines) && lines[i] != "" {
		i++
	}
	block := lines[start:i]
	rest := nonBlank(lines[i:])
	var section string
	// A short last line is the lead's section label, so only when there is
	// a lead: on a headlines-only page it stays a headline.
	if len(block) >= 2 && len(rest) > 0 {
		last := block[len(block)-1]
		if len(strings.Fields(last)) <= sectionMaxWords && !endsSentence(last) {
			section = last
			block = block[:len(block)-1]
		}
	}
	page := FrontPage{Headlines: make([]Headline, 0, len(block))}
	for _, l := range block {
		page.Headlines = append(page.Headlines, newHeadline(l))
	}
	if len(rest) == 0 {
		return page, nil
	}
	lead := &Lead{Section: section, Title: rest[0], Blocks: []Block{}}
	rest = rest[1:]
	if len(rest) >= 2 && utf8.RuneCountInString(rest[0]) <= creditMaxRunes && !endsSentence(rest[0]) {
		lead.Credit = rest[0]
		rest = rest[1:]
	}
	// The trailing run of lines without terminal punctuation is page
	// furniture ("Recommended", "Trending on …").
	end := len(rest)
	for end > 0 && !endsSentence(rest[end-1]) {
		end--
	}
	for _, l := range rest[:end] {
		kind := Paragraph
		if utf8.RuneCountInString(l) <= headingMaxRunes && !endsSentence(l) {
			kind = Heading
		}
		lead.Blocks = append(lead.Blocks, Block{Type: kind, Text: l})
	}
	page.Lead = lead
	return page, nil
}

func nonBlank(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// newHeadline reads one headline line; one ending in "..." or "…" was cut
// short by the source and gets a single "…".
func newHeadline(line string) Headline {
	if !strings.HasSuffix(line, "...") && !strings.HasSuffix(line, "…") {
		return Headline{Title: line}
	}
	title := strings.TrimRightFunc(line, func(r rune) bool {
		return r == '.' || r == '…' || unicode.IsSpace(r)
	})
	return Headline{Title: title + "…", Truncated: true}
}

// endsSentence reports whether line ends in terminal punctuation:
// . ! ? : ; " ” ' ’ ) or an ellipsis.
func endsSentence(line string) bool {
	r, _ := utf8.DecodeLastRuneInString(line)
	return strings.ContainsRune(".!?:;\"”'’)…", r)
}

// IsSourceError reports whether err means the source itself is bad (as
// opposed to a failure of the machine reading it).
func IsSourceError(err error) bool {
	var se *SourceError
	return errors.As(err, &se)
}
