package mailer

import (
	"net/mail"
	"strings"
)

// The list fields of the edition mail (RFC 2369): what may go in them is
// checked here, so that no setting can write a broken or injected header.

// appendListFields appends List-Archive, and Reply-To and List-Help when
// set: fixed per edition, written once.
func appendListFields(dst []byte, cfg DigestConfig) ([]byte, error) {
	archive := cfg.Site.Base.JoinPath("archive").String()
	if err := checkListURL(archive, true); err != nil {
		return nil, err
	}
	dst = append(dst, "List-Archive: <"+archive+">\r\n"...)
	if cfg.ListHelp != "" {
		if err := CheckListHelp(cfg.ListHelp); err != nil {
			return nil, err
		}
		dst = append(dst, "List-Help: <"+cfg.ListHelp+">\r\n"...)
	}
	if cfg.ReplyTo != "" {
		value, err := ReplyToField(cfg.ReplyTo)
		if err != nil {
			return nil, err
		}
		var ok bool
		if dst, ok = appendHeader(dst, "Reply-To", value); !ok {
			return nil, invalid("the Reply-To cannot be written as a header")
		}
	}
	return dst, nil
}

// ReplyToField checks a Reply-To setting — "reply@example.com" or "Desk
// <reply@example.com>", ASCII address — and returns it as a field value.
func ReplyToField(s string) (string, error) {
	if hasLineBreak(s) {
		return "", invalid("the Reply-To %q holds a line break", s)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || !isASCII(addr.Address) {
		return "", invalid("the Reply-To %q is not an ASCII email address, such as desk@example.com or \"Desk <desk@example.com>\"", s)
	}
	if name := cleanName(addr.Name); name != "" {
		return phrase(name) + " <" + addr.Address + ">", nil
	}
	return addr.Address, nil
}

// CheckListHelp checks a List-Help URI: https: or mailto:, ASCII, no
// character that would end it early.
func CheckListHelp(u string) error {
	if rest, ok := strings.CutPrefix(u, "mailto:"); ok {
		if err := validateRecipient(strings.SplitN(rest, "?", 2)[0]); err != nil || !isASCII(u) || strings.ContainsAny(u, "<>, \"") {
			return invalid("List-Help %q is not a mailto: URI with an ASCII address", u)
		}
		return nil
	}
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return invalid("List-Help %q is not an https: or mailto: URI", u)
	}
	return checkListURL(u, true)
}

// checkListURL checks a link before it goes into List-Unsubscribe or the
// body: an absolute http(s) URL, ASCII, no white space or character that
// would end it early (<, >, ", and the comma that separates
// List-Unsubscribe's URIs, RFC 2369), short enough for a header line. Our
// own links always pass; the check keeps a wrong base URL or a changed
// token format from ever writing a broken or injected header.
func checkListURL(u string, header bool) error {
	what := "preferences"
	if header {
		what = "unsubscribe"
	}
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "http://")
	}
	if !ok || rest == "" || rest[0] == '/' || len(u) > 900 {
		return invalid("the %s link %q is not an absolute http(s) URL of at most 900 bytes", what, u)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`<>"\{}|^`+"`", c) >= 0 || header && c == ',' {
			return invalid("the %s link %q holds a character a link in a mail cannot hold", what, u)
		}
	}
	return nil
}
