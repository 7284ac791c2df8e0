package feedback

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Kind is what a report says about a subscriber's address.
type Kind string

// The kinds of report.
const (
	Hard        Kind = "hard"        // the address does not exist: bounced at once
	Soft        Kind = "soft"        // a temporary failure: counted
	Complaint   Kind = "complaint"   // the reader marked a mail as spam
	Unsubscribe Kind = "unsubscribe" // a mailto: unsubscribe
	// None: a message that says nothing about delivery (a DSN for a
	// delivered message, an auto-reply, a DMARC failure report).
	None Kind = ""
)

// Kinds lists the kinds kept, in the order they are shown.
var Kinds = []Kind{Hard, Soft, Complaint, Unsubscribe}

// ErrMalformed is wrapped by Parse's errors: the message cannot be read as
// mail at all.
var ErrMalformed = errors.New("feedback: malformed message")

// MaxMessageSize bounds a report read from any source.
const MaxMessageSize = 1 << 20

// maxDiagnostic bounds the diagnostic text kept with an event.
const maxDiagnostic = 300

// Report is what one message says, before anyone checks whom it is about.
type Report struct {
	Kind Kind
	// Format is "dsn", "arf" or "plain".
	Format string
	// Diagnostic: the DSN's status and diagnostic code, the ARF feedback
	// type and user agent, or a plain message's subject; one line.
	Diagnostic string
	// Addresses that may carry a tag, most telling first: the message's
	// own recipients (Delivered-To, X-Original-To, Envelope-To, To), the
	// ARF report's Original-Mail-From, and the returned message's
	// Return-Path and List-Unsubscribe mailto: addresses.
	Addresses []string
	// Recipients are the original recipients the report names
	// (Final-Recipient, Original-Recipient, Original-Rcpt-To).
	Recipients []string
	// AutoReply: a plain message marked as an automatic reply (RFC 3834),
	// which is not a bounce.
	AutoReply bool
}

// Parse reads a message as an RFC 3464 delivery status notification
// (multipart/report; report-type=delivery-status, or message/global-
// delivery-status), an RFC 5965 abuse report (report-type=feedback-
// report), or a plain message. It reads at most MaxMessageSize bytes.
func Parse(r io.Reader) (Report, error) {
	e, err := message.Read(io.LimitReader(r, MaxMessageSize))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return Report{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rep := Report{Format: "plain"}
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "To"} {
		rep.Addresses = append(rep.Addresses, addressesIn(e.Header.Values(k))...)
	}
	subject, _ := e.Header.Text("Subject")

	mediaType, params, _ := e.Header.ContentType()
	if mediaType == "multipart/report" {
		switch strings.ToLower(params["report-type"]) {
		case "delivery-status":
			rep.Format = "dsn"
		case "feedback-report":
			rep.Format = "arf"
		}
	}
	if mr := e.MultipartReader(); mr != nil && rep.Format != "plain" {
		if err := rep.readParts(mr); err != nil {
			return Report{}, err
		}
		return rep, nil
	}
	// A plain message: a bounce in no standard form (qmail's, a
	// provider's), an unsubscribe mail, or an auto-reply.
	rep.Format = "plain"
	rep.Diagnostic = oneLine(subject)
	if auto := strings.ToLower(e.Header.Get("Auto-Submitted")); auto != "" && auto != "no" {
		rep.AutoReply = true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond"} {
		if e.Header.Has(k) {
			rep.AutoReply = true
		}
	}
	if p := strings.ToLower(e.Header.Get("Precedence")); p == "auto_reply" {
		rep.AutoReply = true
	}
	rep.Kind = Soft // decided by the caller: soft at a tagged bounce address, an unsubscribe at the unsubscribe address
	return rep, nil
}

// readParts reads a multipart/report's parts: the human-readable one
// (ignored), the machine-readable report, and the returned message or its
// headers.
func (rep *Report) readParts(mr message.MultipartReader) error {
	found := false
	for i := 0; i < 20; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			if found {
				break // a broken last part: the report was read
			}
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		t, _, _ := p.Header.ContentType()
		switch t {
		case "message/delivery-status", "message/global-delivery-status":
			if rep.Format == "dsn" && !found {
				found = true
				if err := rep.readDSN(p.Body); err != nil {
					return err
				}
			}
		case "message/feedback-report":
			if rep.Format == "arf" && !found {
				found = true
				if err := rep.readARF(p.Body); err != nil {
					return err
				}
			}
		case "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers":
			h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(p.Body, 256<<10)))
			if err != nil && h.Len() == 0 {
				continue
			}
			rep.Addresses = append(rep.Addresses, addressesIn(h.Values("Return-Path"))...)
			rep.Addresses = append(rep.Addresses, mailtos(h.Values("List-Unsubscribe"))...)
		}
	}
	if !found {
		// A report without its machine-readable part: no standard bounce.
		rep.Format, rep.Kind = "plain", Soft
	}
	return nil
}

// readDSN reads a message/delivery-status body: the per-message fields,
// then one block of fields per recipient. The report is hard if any
// recipient failed permanently, soft if one failed for now or is delayed,
// and None if every recipient was delivered, relayed or expanded.
func (rep *Report) readDSN(body io.Reader) error {
	br := bufio.NewReader(io.LimitReader(body, 256<<10))
	var blocks []textproto.Header
	for i := 0; i < 101; i++ {
		h, err := textproto.ReadHeader(br)
		if h.Len() > 0 {
			blocks = append(blocks, h)
		}
		if err != nil {
			break
		}
	}
	if len(blocks) < 2 {
		return fmt.Errorf("%w: a delivery status without a recipient", ErrMalformed)
	}
	rep.Kind = None
	for _, b := range blocks[1:] {
		action := strings.ToLower(strings.TrimSpace(b.Get("Action")))
		status := strings.TrimSpace(b.Get("Status"))
		if status != "" {
			status, _, _ = strings.Cut(status, " ")
		}
		kind := None
		switch {
		case action == "failed" && strings.HasPrefix(status, "5."):
			kind = Hard
			if strings.HasPrefix(status, "5.2.2") || strings.HasPrefix(status, "5.7.") {
				// A full mailbox, or a policy block: about the sender
				// or the moment as much as the address.
				kind = Soft
			}
		case action == "failed", action == "delayed":
			kind = Soft
		}
		for _, k := range []string{"Original-Recipient", "Final-Recipient"} {
			if v := b.Get(k); v != "" {
				if _, addr, ok := strings.Cut(v, ";"); ok {
					rep.Recipients = append(rep.Recipients, strings.Trim(strings.TrimSpace(addr), "<>"))
				}
			}
		}
		if rank(kind) > rank(rep.Kind) {
			rep.Kind = kind
			rep.Diagnostic = oneLine(strings.TrimSpace("Status " + status + " " + action + ": " + b.Get("Diagnostic-Code")))
		}
	}
	return nil
}

func rank(k Kind) int {
	switch k {
	case Hard:
		return 2
	case Soft:
		return 1
	}
	return 0
}

// readARF reads a message/feedback-report body (RFC 5965): abuse is a
// complaint; other feedback types (auth-failure, not-spam…) say nothing
// about the reader.
func (rep *Report) readARF(body io.Reader) error {
	h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(body, 64<<10)))
	if err != nil && h.Len() == 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ft := strings.ToLower(strings.TrimSpace(h.Get("Feedback-Type")))
	if ft == "" {
		return fmt.Errorf("%w: a feedback report without Feedback-Type", ErrMalformed)
	}
	if ft == "abuse" || ft == "fraud" {
		rep.Kind = Complaint
	}
	rep.Diagnostic = oneLine("Feedback-Type " + ft + " " + h.Get("User-Agent"))
	rep.Addresses = append(addressesIn(h.Values("Original-Mail-From")), rep.Addresses...)
	for _, v := range h.Values("Original-Rcpt-To") {
		rep.Recipients = append(rep.Recipients, strings.Trim(strings.TrimSpace(v), "<>"))
	}
	return nil
}

// addressesIn reads the addresses in header values, falling back on the
// bare value between angle brackets for what net/mail refuses.
func addressesIn(values []string) []string {
	var out []string
	for _, v := range values {
		if list, err := mail.ParseAddressList(v); err == nil {
			for _, a := range list {
				out = append(out, a.Address)
			}
			continue
		}
		out = append(out, strings.Trim(strings.TrimSpace(v), "<>"))
	}
	return out
}

// mailtos returns the addresses of the mailto: URIs in List-Unsubscribe
// values.
func mailtos(values []string) []string {
	var out []string
	for _, v := range values {
		for _, uri := range strings.Split(v, ",") {
			uri = strings.Trim(strings.TrimSpace(uri), "<>")
			if rest, ok := strings.CutPrefix(strings.ToLower(uri), "mailto:"); ok {
				addr, _, _ := strings.Cut(rest, "?")
				out = append(out, addr)
			}
		}
	}
	return out
}

// oneLine folds s to one line of at most maxDiagnostic bytes of printable
// text.
func oneLine(s string) string {
	var b bytes.Buffer
	space := false
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == ' ' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+len(string(r)) > maxDiagnostic {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
