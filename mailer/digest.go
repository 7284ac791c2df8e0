package mailer

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/templates"
)

// DigestConfig is what a Digest needs beyond the edition.
type DigestConfig struct {
	// Site is the publication: its title, base URL and postal address.
	Site templates.MailSite
	// UnsubscribeMailbox is the address of List-Unsubscribe's mailto:
	// alternative; "" is unsubscribe@ the sender's domain, "-" leaves the
	// mailto: out (only the one-click HTTPS link is given).
	UnsubscribeMailbox string
	// MessageIDKey keys the hash in Message-IDs (the links' signing
	// secret, say), so that nobody else can mint ours. Without one the
	// site's URL is used: the IDs are then unique but guessable.
	MessageIDKey []byte
	// DKIM, when set, signs every message.
	DKIM *DKIM
	// ReturnPaths, when set, gives each subscriber's message its own
	// envelope sender (VERP) and List-Unsubscribe mailto: address, which
	// then replaces UnsubscribeMailbox.
	ReturnPaths ReturnPaths
	// ReplyTo, when set, is the Reply-To: a bare address or
	// "Name <address>".
	ReplyTo string
	// ListHelp, when set, is List-Help's URI (RFC 2369): an https: or
	// mailto: URI. List-Archive is always BASE_URL/archive.
	ListHelp string
}

// ReturnPaths mints the addresses that reports about a subscriber's
// message come back to: bounces+TAG@…, unsubscribe+TAG@…. An empty answer
// means none (the sender's address; no mailto:). feedback.Addresses meets
// it.
type ReturnPaths interface {
	ReturnPath(subscriber int64, edition string) string
	UnsubscribeAddress(subscriber int64, edition string) string
}

// Recipient is one subscriber as a digest message needs them.
type Recipient struct {
	ID     int64
	Email  string // a bare address
	Name   string
	Format digest.MailFormat // digest.FormatText: text only
	// The subscriber's signed links (subscription.Service makes them).
	UnsubscribeURL string
	PreferencesURL string
	// Nonce, when set, goes into the Message-ID: a test send gets a new
	// one each time, an edition's message the same on every retry.
	Nonce string
}

// RecipientOf returns sub as a Recipient with its links.
func RecipientOf(sub digest.Subscriber, unsubscribeURL, preferencesURL string) Recipient {
	return Recipient{ID: sub.ID, Email: sub.Email, Name: sub.Name, Format: sub.Format,
		UnsubscribeURL: unsubscribeURL, PreferencesURL: preferencesURL}
}

// Digest is an edition rendered once as an email, from which each
// subscriber's message is assembled cheaply: the subject, the From and
// List-Id fields, and both parts are rendered and quoted-printable encoded
// here; per subscriber only the To, Date, Message-ID and List-Unsubscribe
// fields are written and the subscriber's address and links spliced into
// the encoded parts. A Digest is safe for concurrent use.
type Digest struct {
	edition  string
	from     string // the bare sender address: the envelope's MAIL FROM
	domain   string
	now      func() time.Time
	idKey    []byte
	mailto   string // List-Unsubscribe's second URI, or ""
	paths    ReturnPaths
	dkim     *DKIM
	rendered templates.RenderedMail

	// Written once: the From, Subject and List-Id fields, and what follows
	// List-Unsubscribe up to the first part's body (multipart and
	// text-only).
	fromField     []byte
	subjectField  []byte
	listIDField   []byte
	tail          []byte // List-Unsubscribe-Post, MIME-Version, Content-Type…
	tailTextOnly  []byte
	betweenParts  []byte // the boundary and the HTML part's header
	closing       []byte // the final boundary
	text, html    splicedPart
	sizeMultipart int // of a message less its personal parts, for buffers
}

// NewDigest renders edition e with mails for the sender of c. An edition
// that cannot be mailed (a template that fails, a subject too long) is an
// error here, before anything is sent.
func NewDigest(c *Composer, mails *templates.EditionMail, e digest.Edition, cfg DigestConfig) (*Digest, error) {
	if cfg.Site.Base == nil {
		return nil, fmt.Errorf("mailer: digest of edition %s: no base URL", e.ID)
	}
	if len(cfg.Site.Base.String()) > 500 {
		return nil, fmt.Errorf("mailer: digest of edition %s: the base URL is longer than 500 bytes", e.ID)
	}
	d := &Digest{edition: e.ID, from: c.from.Address, domain: c.domain, now: c.now, idKey: cfg.MessageIDKey, dkim: cfg.DKIM, paths: cfg.ReturnPaths}
	if d.idKey == nil {
		d.idKey = []byte(cfg.Site.Base.String())
	}
	switch mb := cfg.UnsubscribeMailbox; {
	case cfg.ReturnPaths != nil, mb == "-":
	case mb == "":
		d.mailto = "mailto:unsubscribe@" + c.domain + "?subject=unsubscribe"
	default:
		if err := validateRecipient(mb); err != nil || !isASCII(mb) || strings.ContainsAny(mb, "?%<>,") {
			return nil, fmt.Errorf("mailer: the unsubscribe mailbox %q is not a bare ASCII address", mb)
		}
		d.mailto = "mailto:" + mb + "?subject=unsubscribe"
	}

	// The personal values are rendered as placeholders no edition can
	// hold (random, and made of letters and digits, which neither the
	// templates' escaping nor CSS inlining changes), then cut out.
	stem := "bsp" + strings.ToLower(rand.Text())
	var marks [slotCount]string
	for i, name := range []string{"email", "unsubscribe", "preferences"} {
		marks[i] = stem + name + "x"
	}
	r, err := mails.Render(cfg.Site, e, templates.Personal{
		Email: marks[slotEmail], UnsubscribeURL: marks[slotUnsubscribe], PreferencesURL: marks[slotPreferences]})
	if err != nil {
		return nil, fmt.Errorf("mailer: digest of edition %s: %w", e.ID, err)
	}
	d.rendered = r
	if d.text, err = splice(r.Text, stem, marks, false); err != nil {
		return nil, fmt.Errorf("mailer: digest of edition %s: the text template: %w", e.ID, err)
	}
	if d.html, err = splice(r.HTML, stem, marks, true); err != nil {
		return nil, fmt.Errorf("mailer: digest of edition %s: the HTML template: %w", e.ID, err)
	}
	d.rendered.Text, d.rendered.HTML = "", "" // kept spliced only

	from := c.from.Address
	if name := cleanName(c.from.Name); name != "" {
		from = phrase(name) + " <" + from + ">"
	}
	var ok bool
	if d.fromField, ok = appendHeader(nil, "From", from); !ok {
		return nil, fmt.Errorf("mailer: digest of edition %s: %w", e.ID, invalid("the sender cannot be written as a header"))
	}
	if d.subjectField, ok = appendHeader(nil, "Subject", unstructured(r.Subject)); !ok {
		return nil, fmt.Errorf("mailer: digest of edition %s: %w", e.ID, invalid("the subject cannot be written as a header"))
	}
	if d.listIDField, ok = appendHeader(nil, "List-Id", listID(cfg.Site.Title, c.domain)); !ok {
		return nil, fmt.Errorf("mailer: digest of edition %s: %w", e.ID, invalid("the title cannot be written in List-Id"))
	}
	if d.listIDField, err = appendListFields(d.listIDField, cfg); err != nil {
		return nil, fmt.Errorf("mailer: digest of edition %s: %w", e.ID, err)
	}

	boundary := "=_broadsheet_" + boundaryID(e)
	common := "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
	const textHeader = "Content-Type: text/plain; charset=" + charset + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	const htmlHeader = "Content-Type: text/html; charset=" + charset + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
	d.tail = []byte(common + "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n--" + boundary + "\r\n" + textHeader)
	d.tailTextOnly = []byte(common + textHeader)
	d.betweenParts = []byte("\r\n--" + boundary + "\r\n" + htmlHeader)
	d.closing = []byte("\r\n--" + boundary + "--\r\n")
	d.sizeMultipart = len(d.fromField) + len(d.subjectField) + len(d.listIDField) + len(d.tail) + len(d.betweenParts) + len(d.closing) + d.text.size() + d.html.size()
	return d, nil
}

// listID returns the List-Id field's value: the title as a phrase, then
// <title-slug.sender-domain> (RFC 2919).
func listID(title, domain string) string {
	var slug []byte
	dash := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && len(slug) > 0 {
				slug = append(slug, '-')
			}
			slug = append(slug, byte(r))
			dash = false
		default:
			dash = true
		}
		if len(slug) >= 48 {
			break
		}
	}
	if len(slug) == 0 {
		slug = []byte("list")
	}
	name := phrase(cleanName(title))
	if name == "" {
		return "<" + string(slug) + "." + domain + ">"
	}
	return name + " <" + string(slug) + "." + domain + ">"
}

// boundaryID names an edition's MIME boundary after its content. The
// boundary starts with "=_", which quoted-printable text never holds, so
// no part can contain it whatever the edition says.
func boundaryID(e digest.Edition) string {
	sum := sha256.Sum256([]byte(e.ID + "\x00" + e.Hash))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// EditionID returns the ID of the edition mailed.
func (d *Digest) EditionID() string { return d.edition }

// From returns the bare sender address, the envelope's MAIL FROM.
func (d *Digest) From() string { return d.from }

// EnvelopeFrom returns the envelope sender of subscriber's message: its
// own return path with ReturnPaths, else From.
func (d *Digest) EnvelopeFrom(subscriber int64) string {
	if d.paths != nil {
		if rp := d.paths.ReturnPath(subscriber, d.edition); rp != "" {
			return rp
		}
	}
	return d.from
}

// Subject returns the subject line, decoded.
func (d *Digest) Subject() string { return d.rendered.Subject }

// Continued reports that the HTML part shows only the start of the lead,
// to stay under the size limit.
func (d *Digest) Continued() bool { return d.rendered.Continued }

// Text returns the text part as r reads it.
func (d *Digest) Text(r Recipient) string {
	vals := r.values()
	return d.text.decoded(&vals)
}

// HTML returns the HTML part as r's mail client gets it.
func (d *Digest) HTML(r Recipient) string {
	vals := r.values()
	return d.html.decoded(&vals)
}

func (r *Recipient) values() [slotCount]string {
	return [slotCount]string{slotEmail: r.Email, slotUnsubscribe: r.UnsubscribeURL, slotPreferences: r.PreferencesURL}
}

// MessageID returns the Message-ID of r's message, without angle
// brackets: HASH@sender-domain, HASH an HMAC (keyed with MessageIDKey) of
// the edition and the subscriber, so that it shows neither the
// subscriber's number nor the size of the list. It is the same every time
// (a retry is recognisably the same message) and differs between
// subscribers and editions — and between test sends, whose Recipient has
// a Nonce.
func (d *Digest) MessageID(r Recipient) string {
	return string(d.appendMessageID(nil, &r))
}

func (d *Digest) appendMessageID(dst []byte, r *Recipient) []byte {
	mac := hmac.New(sha256.New, d.idKey)
	var buf [128]byte
	in := append(buf[:0], d.edition...)
	in = append(in, 0)
	in = strconv.AppendInt(in, r.ID, 10)
	in = append(in, 0)
	in = append(in, r.Nonce...)
	mac.Write(in)
	var sum [sha256.Size]byte
	start := len(dst)
	dst = base32.StdEncoding.WithPadding(base32.NoPadding).AppendEncode(dst, mac.Sum(sum[:0])[:20])
	for i := start; i < len(dst); i++ {
		if dst[i] >= 'A' && dst[i] <= 'Z' {
			dst[i] += 'a' - 'A'
		}
	}
	dst = append(dst, '@')
	return append(dst, d.domain...)
}

// Message returns r's message: CRLF line endings, ready for SMTP's DATA
// or, with LF endings, a Maildir.
func (d *Digest) Message(r Recipient) ([]byte, error) {
	return d.AppendMessage(make([]byte, 0, d.sizeMultipart+1024), r)
}

// AppendMessage appends r's message to dst and returns the extended
// buffer; a caller reusing its buffer allocates next to nothing. Text-
// format subscribers get a text/plain message, the others
// multipart/alternative, text then HTML. An error wraps ErrInvalidMessage:
// the address or a link cannot be written safely, or signing failed.
func (d *Digest) AppendMessage(dst []byte, r Recipient) ([]byte, error) {
	if err := validateRecipient(r.Email); err != nil {
		return dst, fmt.Errorf("mailer: message to %q: %w", r.Email, err)
	}
	if err := checkListURL(r.UnsubscribeURL, true); err != nil {
		return dst, fmt.Errorf("mailer: message to %q: %w", r.Email, err)
	}
	if err := checkListURL(r.PreferencesURL, false); err != nil {
		return dst, fmt.Errorf("mailer: message to %q: %w", r.Email, err)
	}
	if d.dkim == nil && cap(dst)-len(dst) < d.sizeMultipart {
		dst = slices.Grow(dst, d.sizeMultipart+1024)
	}
	start := len(dst)
	dst = append(dst, d.fromField...)

	var ok bool
	to, _, err := asciiDomain(r.Email)
	if err != nil {
		return dst[:start], fmt.Errorf("mailer: message to %q: %w", r.Email, err)
	}
	if name := cleanName(r.Name); name != "" {
		to = phrase(name) + " <" + to + ">"
	}
	if dst, ok = appendHeader(dst, "To", to); !ok {
		return dst[:start], fmt.Errorf("mailer: message to %q: %w", r.Email, invalid("the recipient cannot be written as a header"))
	}
	dst = append(dst, d.subjectField...)
	dst = append(dst, "Date: "...)
	dst = d.now().AppendFormat(dst, time.RFC1123Z)
	dst = append(dst, "\r\nMessage-ID: <"...)
	dst = d.appendMessageID(dst, &r)
	dst = append(dst, ">\r\n"...)
	dst = append(dst, d.listIDField...)
	dst = append(dst, "List-Unsubscribe: <"...)
	dst = append(dst, r.UnsubscribeURL...)
	dst = append(dst, '>')
	if d.mailto != "" {
		dst = append(dst, ",\r\n <"...)
		dst = append(dst, d.mailto...)
		dst = append(dst, '>')
	} else if d.paths != nil {
		if mb := d.paths.UnsubscribeAddress(r.ID, d.edition); mb != "" {
			if !isASCII(mb) || strings.ContainsAny(mb, "?%<>, \r\n") {
				return dst[:start], fmt.Errorf("mailer: message to %q: %w", r.Email, invalid("the unsubscribe address %q is not a bare ASCII address", mb))
			}
			dst = append(dst, ",\r\n <mailto:"...)
			dst = append(dst, mb...)
			dst = append(dst, "?subject=unsubscribe>"...)
		}
	}
	dst = append(dst, "\r\n"...)

	vals := r.values()
	if r.Format == digest.FormatText {
		dst = append(dst, d.tailTextOnly...)
		// The text part ends in a line break (or in a soft one, after a
		// value): the message ends with CRLF.
		dst = d.text.appendEncoded(dst, &vals)
	} else {
		dst = append(dst, d.tail...)
		dst = d.text.appendEncoded(dst, &vals)
		dst = append(dst, d.betweenParts...)
		dst = d.html.appendEncoded(dst, &vals)
		dst = append(dst, d.closing...)
	}
	if d.dkim == nil {
		return dst, nil
	}
	sig, err := d.dkim.Sign(dst[start:])
	if err != nil {
		return dst[:start], fmt.Errorf("mailer: message to %q: %w", r.Email, err)
	}
	return slices.Insert(dst, start, sig...), nil
}
