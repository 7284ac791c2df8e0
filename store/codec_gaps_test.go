package store

import (
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// TestTruncatedRecordsRefused: every strict prefix of a subscriber record
// or a consent record is an error, never a record of zeros and empty
// strings.
func TestTruncatedRecordsRefused(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 5, 0, time.UTC)
	sub := digest.Subscriber{Email: "ann@example.com", Name: "Ann", Status: digest.Active, Format: digest.FormatText, ConfirmSentAt: at}
	hot := encodeHot(&sub)
	var back digest.Subscriber
	if err := decodeHot(7, hot, &back); err != nil || back.Email != sub.Email || back.Name != "Ann" || back.Format != digest.FormatText ||
		back.Status != digest.Active || !back.ConfirmSentAt.Equal(at) || back.ID != 7 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for n := range len(hot) {
		var s digest.Subscriber
		if err := decodeHot(7, hot[:n], &s); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded as %+v", n, len(hot), s)
		}
	}
	c := digest.Consent{Source: "form", SubscribedAt: at, IP: "198.51.100.7", UserAgent: "UA", Text: "v1",
		ConfirmedAt: at, ConfirmIP: "2001:db8::1", LeftAt: at, LeftHow: "link"}
	consent := encodeConsent(&c)
	for n := 1; n < len(consent); n++ {
		var out digest.Consent
		if _, err := decodeConsent(7, consent[:n], &out); err == nil {
			t.Errorf("a consent record cut to %d of %d bytes decoded as %+v", n, len(consent), out)
		}
	}
	for _, st := range digest.Statuses {
		if got := statusOf(statusCode(st)); got != st {
			t.Errorf("status %s came back %s", st, got)
		}
	}
}
