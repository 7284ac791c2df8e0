package subscription

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// MaxCell is the longest CSV cell an import accepts, in bytes; a line with
// a longer one is invalid.
const MaxCell = 1 << 10

// maxRecord bounds one CSV record (a line, or several when a quoted cell
// holds line breaks) held in memory during an import. A longer record is
// skipped without being held: the CSV reader gets a marker line instead.
const maxRecord = 16 << 10

// overlongMarker stands in for a record over maxRecord.
const overlongMarker = "\x00overlong"

// recordLimiter passes CSV through, record by record, holding at most
// maxRecord bytes: a longer record is read to its end and discarded, and
// replaced by overlongMarker followed by as many line breaks as it held, so
// the CSV reader's line numbers stay true. Record ends are found by quote
// parity, as RFC 4180 defines them (a "" inside a quoted cell toggles
// twice).
type recordLimiter struct {
	src     *bufio.Reader
	out     bytes.Buffer // what is ready for the CSV reader
	rec     bytes.Buffer // the record being read
	inQuote bool
	over    bool // the record passed maxRecord: being discarded
	lines   int  // line breaks in a discarded record
	err     error
}

func newRecordLimiter(r io.Reader) *recordLimiter {
	return &recordLimiter{src: bufio.NewReaderSize(r, 64<<10)}
}

func (l *recordLimiter) Read(p []byte) (int, error) {
	for l.out.Len() == 0 && l.err == nil {
		l.step()
	}
	if l.out.Len() > 0 {
		return l.out.Read(p)
	}
	return 0, l.err
}

// step reads one chunk of a line (up to its line break, or a buffer's
// worth) and moves a finished record to out.
func (l *recordLimiter) step() {
	chunk, err := l.src.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	l.inQuote = l.inQuote != (bytes.Count(chunk, []byte{'"'})%2 == 1)
	endOfLine := len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
	switch {
	case l.over:
		if endOfLine {
			l.lines++
		}
	case l.rec.Len()+len(chunk) > maxRecord:
		l.over, l.lines = true, bytes.Count(l.rec.Bytes(), []byte{'\n'})
		if endOfLine {
			l.lines++
		}
		l.rec.Reset()
	default:
		l.rec.Write(chunk)
	}
	if (endOfLine && !l.inQuote) || err != nil {
		l.finish()
	}
	if err != nil {
		l.err = err // io.EOF, or the body's own error (too large, cut)
	}
}

// finish ends the record being read.
func (l *recordLimiter) finish() {
	if l.over {
		l.out.WriteString(overlongMarker)
		l.out.WriteString(strings.Repeat("\n", max(l.lines, 1)))
	} else {
		l.out.Write(l.rec.Bytes())
	}
	l.rec.Reset()
	l.over, l.lines, l.inQuote = false, 0, false
}

// unescapeCell undoes what Export does to a cell a spreadsheet would run as
// a formula: a ' before =, +, -, @, ', a tab or a CR is removed, so an
// exported address imports as itself.
func unescapeCell(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte(formulaStarts, s[1]) >= 0 {
		return s[1:]
	}
	return s
}

// formulaStarts are the first characters Export escapes with a '.
const formulaStarts = "=+-@\t\r'"
