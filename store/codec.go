package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// Subscribers are kept as packed binary records — small enough that a
// bucket of them stays a listpack-encoded hash (see README.md) — in two
// parts: the hot record read when mailing (status, format, email, name)
// and the cold consent record read only when a subscriber is shown.

const recordVersion = 1

// statusCode is the byte a status is kept as.
func statusCode(st digest.SubscriberStatus) byte {
	switch st {
	case digest.Active:
		return 'a'
	case digest.Unsubscribed:
		return 'u'
	case digest.Bounced:
		return 'b'
	case digest.Complained:
		return 'c'
	}
	return 'p'
}

var errBadRecord = errors.New("store: corrupt subscriber record")

func encodeHot(s *digest.Subscriber) []byte {
	b := make([]byte, 0, 8+len(s.Email)+len(s.Name))
	format := byte('h')
	if s.Format == digest.FormatText {
		format = 't'
	}
	b = append(b, recordVersion, statusCode(s.Status), format)
	b = appendTime(b, s.ConfirmSentAt)
	b = appendString(b, s.Email)
	b = appendString(b, s.Name)
	return b
}

func decodeHot(id int64, b []byte, s *digest.Subscriber) error {
	if len(b) < 3 || b[0] != recordVersion {
		return fmt.Errorf("%w %d", errBadRecord, id)
	}
	s.ID = id
	s.Status = statusOf(b[1])
	s.Format = digest.FormatHTML
	if b[2] == 't' {
		s.Format = digest.FormatText
	}
	r := reader{b: b[3:]}
	s.ConfirmSentAt = r.time()
	s.Email = r.string()
	s.Name = r.string()
	if r.err {
		return fmt.Errorf("%w %d", errBadRecord, id)
	}
	return nil
}

func statusOf(c byte) digest.SubscriberStatus {
	for _, st := range digest.Statuses {
		if statusCode(st) == c {
			return st
		}
	}
	return digest.Pending
}

func encodeConsent(c *digest.Consent) []byte {
	b := make([]byte, 0, 24+len(c.IP)+len(c.UserAgent)+len(c.Text)+len(c.ConfirmIP))
	b = append(b, recordVersion)
	for _, s := range []string{c.Source, c.IP, c.UserAgent, c.Text, c.ConfirmIP, c.LeftHow} {
		b = appendString(b, s)
	}
	for _, t := range []time.Time{c.SubscribedAt, c.ConfirmedAt, c.LeftAt} {
		b = appendTime(b, t)
	}
	return b
}

func decodeConsent(id int64, b []byte, c *digest.Consent) error {
	if len(b) == 0 {
		return nil // a subscriber written without one
	}
	if b[0] != recordVersion {
		return fmt.Errorf("%w %d (consent)", errBadRecord, id)
	}
	r := reader{b: b[1:]}
	for _, p := range []*string{&c.Source, &c.IP, &c.UserAgent, &c.Text, &c.ConfirmIP, &c.LeftHow} {
		*p = r.string()
	}
	for _, p := range []*time.Time{&c.SubscribedAt, &c.ConfirmedAt, &c.LeftAt} {
		*p = r.time()
	}
	if r.err {
		return fmt.Errorf("%w %d (consent)", errBadRecord, id)
	}
	return nil
}

// Times are whole Unix seconds; zero is the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendUvarint(b, 0)
	}
	return binary.AppendUvarint(b, uint64(t.Unix()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) time() time.Time {
	v := r.uvarint()
	if v == 0 || r.err {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}
