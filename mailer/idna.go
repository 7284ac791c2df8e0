package mailer

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// asciiDomain returns addr with its domain as IDNA A-labels
// (bücher.example → xn--bcher-kva.example), which every server and
// resolver understands, and whether the local part is still beyond ASCII
// (then only a server offering SMTPUTF8 can take it). ASCII addresses
// come back as they are, at no cost.
func asciiDomain(addr string) (string, bool, error) {
	if isASCII(addr) {
		return addr, false, nil
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", false, invalid("the address %q has no @", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if !isASCII(domain) {
		a, err := idna.Lookup.ToASCII(domain)
		if err != nil {
			return "", false, invalid("the domain of %q is not a valid international domain name: %v", addr, err)
		}
		domain = a
	}
	return local + "@" + domain, !isASCII(local), nil
}

// errNoSMTPUTF8 is the error of a recipient whose local part is beyond
// ASCII when the server does not offer SMTPUTF8: that recipient fails
// alone, the others go on.
func errNoSMTPUTF8(to, server string) error {
	return fmt.Errorf("mailer: %w: the address %q has a non-ASCII local part and SMTP server %s does not offer SMTPUTF8 (RFC 6531), so it cannot take it",
		ErrInvalidMessage, to, server)
}
