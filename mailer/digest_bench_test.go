package mailer

import (
	"bytes"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

// BenchmarkDigestMessage measures assembling one subscriber's message of
// the sample edition from a Digest rendered once: what the delivery engine
// does per subscriber. The buffer is reused, as a sender would.
func BenchmarkDigestMessage(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format digest.MailFormat
		dkim   string
	}{
		{"html", digest.FormatHTML, ""},
		{"text", digest.FormatText, ""},
		{"html+dkim-ed25519", digest.FormatHTML, "ed25519"},
		{"html+dkim-rsa2048", digest.FormatHTML, "rsa"},
		{"html+dkim-rsa2048+ed25519", digest.FormatHTML, "rsa+ed25519"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testDigestConfig()
			if bc.dkim != "" {
				cfg.DKIM = testDKIM(b, bc.dkim)
			}
			d := newTestDigest(b, sampleEdition(b), cfg)
			r := testRecipient(42)
			r.Format = bc.format
			buf, err := d.AppendMessage(nil, r)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf, err = d.AppendMessage(buf[:0], r)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGoMailMessage is the yardstick: composing and writing the same
// message through go-mail (Composer), as the confirmation mail is.
func BenchmarkGoMailMessage(b *testing.B) {
	cfg := testDigestConfig()
	d := newTestDigest(b, sampleEdition(b), cfg)
	c := digestComposer(b)
	r := testRecipient(42)
	m := Message{To: r.Email, ToName: r.Name, Subject: d.Subject(), Text: d.Text(r), HTML: d.HTML(r),
		Headers: map[string]string{
			"List-Unsubscribe":      "<" + r.UnsubscribeURL + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Id":               "Daily Brief <daily-brief.example.com>",
		}}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		msg, err := c.Compose(m)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if _, err := msg.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

// BenchmarkNewDigest measures rendering an edition once: templates, CSS
// inlining and encoding.
func BenchmarkNewDigest(b *testing.B) {
	e := sampleEdition(b)
	cfg := testDigestConfig()
	mails := testMails(b)
	c := digestComposer(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewDigest(c, mails, e, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
