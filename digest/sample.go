package digest

import (
	"bytes"
	_ "embed"
)

// The bundled front page, used when no source is configured. It is the same
// file the reader's golden tests use.
//
//go:embed testdata/frontpage.txt
var sample []byte

// Sample returns the bundled sample front page as text.
func Sample() *bytes.Reader { return bytes.NewReader(sample) }
