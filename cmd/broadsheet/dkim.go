package main

import (
	"log/slog"
	"strings"

	"github.com/broadsheet-news/broadsheet/mailer"
)

// dkimSettings are the DKIM flags: every mail broadsheet sends is signed
// with them (confirmations, test sends, editions).
type dkimSettings struct {
	KeyFile  string
	Selector string
	Domain   string
}

func (s *dkimSettings) flags(f *envFlags) {
	f.string(&s.KeyFile, "dkim-key-file", "", "PEM private keys signing every mail with DKIM (relaxed/relaxed): comma-separated files, or several PEM blocks in one (RSA and Ed25519 side by side); empty: unsigned")
	f.string(&s.Selector, "dkim-selector", "", "DKIM selectors, one per key in the same order (comma-separated): each key's public half is published at SELECTOR._domainkey.DOMAIN")
	f.string(&s.Domain, "dkim-domain", "", "DKIM signing domain (default: the --from domain)")
}

// load reads the keys (nil when there are none) and warns of what
// receivers will not like. Every mistake is a usage error naming its flag.
func (s *dkimSettings) load(composer *mailer.Composer, logger *slog.Logger) (*mailer.DKIM, error) {
	switch {
	case s.KeyFile == "" && (s.Selector != "" || s.Domain != ""):
		return nil, usageErrorf("--dkim-selector and --dkim-domain need --dkim-key-file")
	case s.KeyFile == "":
		return nil, nil
	case s.Selector == "":
		return nil, usageErrorf("--dkim-key-file needs --dkim-selector")
	}
	addr := composer.From().Address
	from := strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
	domain := s.Domain
	if domain == "" {
		domain = from
	}
	k, err := mailer.LoadDKIM(s.KeyFile, domain, s.Selector)
	if err != nil {
		return nil, usageErrorf("--dkim-key-file: %v", err)
	}
	if from != k.Domain() && !strings.HasSuffix(from, "."+k.Domain()) {
		logger.Warn("The DKIM domain is not the sender's: DMARC will not count the signature",
			slog.String("dkim_domain", k.Domain()), slog.String("from_domain", from))
	}
	if k.OnlyEd25519() {
		logger.Warn("Only an Ed25519 DKIM key: many receivers do not check Ed25519 signatures yet (RFC 8463) and count the mail as unsigned; add an RSA key beside it (--dkim-key-file rsa.pem,ed.pem)")
	}
	return k, nil
}
