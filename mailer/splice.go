package mailer

import "strings"

// A Digest's parts are rendered once with placeholders where the personal
// values go (the subscriber's address and links), and cut around them.
// Each static segment is quoted-printable encoded once; per subscriber
// the values are encoded between two soft line breaks, so the encoded
// segments around them never change: the part is assembled by copying.

// The personal values spliced into the parts.
const (
	slotEmail = iota
	slotUnsubscribe
	slotPreferences
	slotCount
)

// splicedPart is a part rendered with placeholders where the personal
// values go, cut around them.
type splicedPart struct {
	raw   []string // the decoded segments: len(slots)+1 of them
	qp    [][]byte // the same, quoted-printable encoded
	slots []int    // the value between segment i and i+1
	html  bool     // values are HTML-escaped
}

// splice cuts s around the placeholders in marks, which begin with stem.
// A placeholder the template changed (a personal value passed through a
// function) is an error: it would reach the reader as it is.
func splice(s, stem string, marks [slotCount]string, html bool) (splicedPart, error) {
	p := splicedPart{html: html}
	for {
		at, slot := -1, 0
		for i, m := range marks {
			if j := strings.Index(s, m); j >= 0 && (at < 0 || j < at) {
				at, slot = j, i
			}
		}
		if at < 0 {
			break
		}
		p.raw = append(p.raw, s[:at])
		p.slots = append(p.slots, slot)
		s = s[at+len(marks[slot]):]
	}
	p.raw = append(p.raw, s)
	for _, seg := range p.raw {
		if strings.Contains(strings.ToLower(seg), stem) {
			return splicedPart{}, invalid("it changes a personal value ({{.Email}}, {{.UnsubscribeURL}} or {{.PreferencesURL}}); show them as they are")
		}
		p.qp = append(p.qp, encodeQP(seg))
	}
	return p, nil
}

func (p *splicedPart) size() int {
	n := 0
	for _, seg := range p.qp {
		n += len(seg) + 2*len(softBreak)
	}
	return n
}

// appendEncoded appends the part, quoted-printable encoded, with vals in
// their places. Each value stands between soft line breaks, so the
// encoded segments around it need no change.
func (p *splicedPart) appendEncoded(dst []byte, vals *[slotCount]string) []byte {
	for i, seg := range p.qp {
		dst = append(dst, seg...)
		if i < len(p.slots) {
			v := vals[p.slots[i]]
			if p.html {
				v = escapeHTML(v)
			}
			dst = append(dst, softBreak...)
			dst = appendQPValue(dst, v)
			dst = append(dst, softBreak...)
		}
	}
	return dst
}

// decoded returns the part as the subscriber reads it.
func (p *splicedPart) decoded(vals *[slotCount]string) string {
	var b strings.Builder
	for i, seg := range p.raw {
		b.WriteString(seg)
		if i < len(p.slots) {
			v := vals[p.slots[i]]
			if p.html {
				v = escapeHTML(v)
			}
			b.WriteString(v)
		}
	}
	return b.String()
}
