package digest

import (
	"errors"
	"testing"
)

// TestNormalizeEmailSaysWhy: every refusal says what is wrong, in words a
// reader can act on; accepted addresses come back lower-cased.
func TestNormalizeEmailSaysWhy(t *testing.T) {
	for in, want := range map[string]string{
		"not-an-email":               `"not-an-email" has no @`,
		"":                           "the address is empty",
		"@example.com":               `"@example.com" has nothing before the @`,
		"ann@":                       `"ann@" has nothing after the @`,
		"ann@@example.com":           `"ann@@example.com" has more than one @`,
		"ann smith@example.com":      `"ann smith@example.com" contains a space`,
		"Ann <ann@example.com>":      `"Ann <ann@example.com>" has a name or angle brackets: give the bare address, like ann@example.com`,
		"ann@example.com,b@x.org":    `"ann@example.com,b@x.org" holds more than one address: give one`,
		"ann..b@example.com":         `"ann..b@example.com" has a dot at the start or end of its name part, or two in a row`,
		"ann@localhost":              `"ann@localhost" has no dot inside its domain "localhost"`,
		"ann@[192.0.2.1]":            `"ann@[192.0.2.1]" has an IP address for a domain: give a domain name`,
		"ann\x01@example.com":        `"ann\x01@example.com" contains a control, format or bidi-override character`,
		"line\nbreak@example.com":    "the address contains a line break or NUL",
		"Ann.Reader@Example.COM  ":   "",
		"o'brien+news@example.co.uk": "",
	} {
		got, err := NormalizeEmail(in)
		if want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", in, err)
			}
			continue
		}
		if err == nil || err.Error() != want || !errors.Is(err, ErrBadEmail) {
			t.Errorf("%q: got %q, %v; want the refusal %q", in, got, err, want)
		}
	}
	if got, _ := NormalizeEmail(" Ann.Reader@Example.COM "); got != "ann.reader@example.com" {
		t.Errorf("normalised to %q", got)
	}
}
