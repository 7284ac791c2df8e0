package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

func TestConsentCodec(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 0, 5, 0, time.UTC)
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	tests := []digest.Consent{
		{},
		{Source: "import", SubscribedAt: at, Text: "import via CLI"},
		{Source: "form", SubscribedAt: at, IP: "198.51.100.7", UserAgent: ua, Text: "2026-11", ConfirmedAt: at.Add(time.Minute), ConfirmIP: "198.51.100.7"},
		{Source: "form", SubscribedAt: at, IP: "2001:db8::1", UserAgent: ua, Text: "v2", ConfirmedAt: at, ConfirmIP: "2001:db8:ffff:1234:5678:9abc:def0:1"},
		{Source: "a-new-source", IP: "not an ip", ConfirmIP: "fe80::1%eth0", LeftAt: at, LeftHow: "complaint"},
		{Source: "admin", LeftHow: "a new way to leave", LeftAt: at.Add(365 * 24 * time.Hour * 20)},
	}
	for i, in := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := encodeConsent(&in)
			var out digest.Consent
			agent, err := decodeConsent(1, b, &out)
			if err != nil {
				t.Fatal(err)
			}
			if agent != agentID(in.UserAgent) {
				t.Errorf("agent id %x, want %x", agent, agentID(in.UserAgent))
			}
			out.UserAgent = in.UserAgent // resolved from the dictionary by the store
			if fmt.Sprint(out) != fmt.Sprint(in) {
				t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
			}
			if in.Source == "form" && len(b) > 64 {
				t.Errorf("a form consent of %d bytes: over 64 bytes, its bucket leaves listpack encoding", len(b))
			}
		})
	}
	for _, bad := range [][]byte{{recordVersion}, {recordVersion, 9}, {recordVersion, 1, 4, 1, 2}, {7}} {
		var c digest.Consent
		if _, err := decodeConsent(1, bad, &c); err == nil {
			t.Errorf("decodeConsent(%v) accepted a corrupt record", bad)
		}
	}
}
