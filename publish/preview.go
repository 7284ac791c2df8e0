package publish

import (
	"bytes"
	"fmt"
	"mime"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

// MailPreview is an edition's mail as a sample subscriber gets it.
type MailPreview struct {
	Subject string
	HTML    string
	Text    string
	// Headers are the message's header fields in order, decoded for
	// reading (RFC 2047 words).
	Headers []Header
}

// Header is one header field.
type Header struct{ Name, Value string }

// Previewer renders editions' mails for the sample subscriber.
type Previewer struct {
	digestOf func(digest.Edition) (*mailer.Digest, error)
	links    mailer.Links
}

// NewPreviewer returns a Previewer; digestOf renders an edition's mail
// (as the delivery engine does) and links signs the sample subscriber's.
func NewPreviewer(digestOf func(digest.Edition) (*mailer.Digest, error), links mailer.Links) *Previewer {
	return &Previewer{digestOf: digestOf, links: links}
}

// Preview renders edition e's mail as reader@example.com, the sample
// subscriber, gets it.
func (p *Previewer) Preview(e digest.Edition) (MailPreview, error) {
	d, err := p.digestOf(e)
	if err != nil {
		return MailPreview{}, fmt.Errorf("publish: preview %s: %w", e.ID, err)
	}
	id := int64(mailer.SampleSubscriberID)
	r := mailer.Recipient{ID: id, Email: "reader@example.com", Name: "Sample Reader", Format: digest.FormatHTML,
		UnsubscribeURL: p.links.UnsubscribeURL(id), PreferencesURL: p.links.PreferencesURL(id)}
	msg, err := d.Message(r)
	if err != nil {
		return MailPreview{}, fmt.Errorf("publish: preview %s: %w", e.ID, err)
	}
	return MailPreview{Subject: d.Subject(), HTML: d.HTML(r), Text: d.Text(r), Headers: headersOf(msg)}, nil
}

// headersOf returns a message's header fields, unfolded and decoded, in
// their order.
func headersOf(msg []byte) []Header {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var out []Header
	dec := new(mime.WordDecoder)
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out = append(out, Header{Name: name, Value: strings.TrimSpace(value)})
	}
	for i := range out {
		if v, err := dec.DecodeHeader(out[i].Value); err == nil {
			out[i].Value = v
		}
	}
	return out
}
