package digest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
)

// TextSource reads a front page saved as text from a file, or from Stdin
// when Path is "-".
type TextSource struct {
	Path  string
	Stdin io.Reader
}

// FrontPage reads and parses the file. A file that cannot be opened is a
// SourceError, like one that cannot be parsed.
func (s TextSource) FrontPage(ctx context.Context) (FrontPage, error) {
	if s.Path == "-" {
		if s.Stdin == nil {
			return FrontPage{}, sourceErrorf("no standard input to read the front page from")
		}
		return ParseText(s.Stdin)
	}
	f, err := os.Open(s.Path)
	if err != nil {
		reason := "cannot open " + s.Path
		switch {
		case errors.Is(err, fs.ErrNotExist):
			reason = s.Path + " does not exist"
		case errors.Is(err, fs.ErrPermission):
			reason = s.Path + " cannot be read: permission denied"
		}
		return FrontPage{}, &SourceError{Reason: reason, Err: err}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return FrontPage{}, sourceErrorf("%s is a directory, not a front page", s.Path)
	}
	page, err := ParseText(f)
	if se := (*SourceError)(nil); errors.As(err, &se) {
		se.Reason = s.Path + ": " + se.Reason
	}
	return page, err
}

func (s TextSource) String() string { return s.Path }

// SampleSource is the bundled sample front page, used when no source is
// configured.
type SampleSource struct{}

// FrontPage parses the bundled sample.
func (SampleSource) FrontPage(ctx context.Context) (FrontPage, error) { return ParseText(Sample()) }

func (SampleSource) String() string { return "the bundled sample front page" }
