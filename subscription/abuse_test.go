package subscription_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/subscription"
)

// One mailbox, many spellings: one confirmation mail a day, whatever the
// spelling; each spelling is still kept as typed (in NFC).
func TestConfirmationLimitCountsAMailboxNotASpelling(t *testing.T) {
	t.Parallel()
	for name, spellings := range map[string][]string{
		"subaddresses": func() []string {
			var s []string
			for i := 1; i <= 25; i++ {
				s = append(s, fmt.Sprintf("victim+%d@example.com", i))
			}
			return append(s, "victim@example.com")
		}(),
		"gmail dots and googlemail": {"j.doe@gmail.com", "jdoe@gmail.com", "j.d.o.e@gmail.com", "jdoe@googlemail.com", "J.Doe+x@GoogleMail.com"},
		"NFC and NFD":               {"jos\u00e9@example.com", "jose\u0301@example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			for _, e := range spellings {
				if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: e, IP: "192.0.2.1"}); err != nil {
					t.Fatalf("%s: %v", e, err)
				}
			}
			if n := len(f.mails(t)); n != 1 {
				t.Fatalf("%d confirmation mails to one mailbox, want 1", n)
			}
			// Stored as typed (lower-cased, NFC): the subaddress and the dots stay.
			sub, err := f.store.SubscriberByEmail(ctx, strings.ToLower(spellings[0]))
			if err != nil {
				t.Fatalf("%s not stored as typed: %v", spellings[0], err)
			}
			if sub.Email != strings.ToLower(spellings[0]) {
				t.Fatalf("stored %q, want %q", sub.Email, spellings[0])
			}
			// A day later the mailbox may get one again.
			f.now = f.now.Add(25 * time.Hour)
			if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: spellings[len(spellings)-1], IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
			if n := len(f.mails(t)); n != 2 {
				t.Fatalf("%d mails a day later, want 2", n)
			}
		})
	}
}

func TestNFDAddressIsStoredInNFC(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "jose\u0301@example.com"}); err != nil {
		t.Fatal(err)
	}
	sub, err := f.store.SubscriberByEmail(ctx, "jos\u00e9@example.com")
	if err != nil || sub.Email != "jos\u00e9@example.com" {
		t.Fatalf("NFD address stored as %q (%v), want the NFC spelling", sub.Email, err)
	}
}

// Names: control, format and bidi-override characters are refused with a
// 400-style field error naming "name"; joiners used by scripts and emoji
// are kept. Addresses: over-long local parts and addresses are refused.
func TestNamesAndAddressesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	long := strings.Repeat("a", 65) + "@example.com"
	for _, tc := range []struct {
		email, name, field string
	}{
		{"a@example.com", "Ann\u2028Smith", "name"},                                      // line separator
		{"a@example.com", "Ann\u2029B", "name"},                                          // paragraph separator
		{"a@example.com", "\u202egnp.exe", "name"},                                       // right-to-left override
		{"a@example.com", "Ann\u2066x\u2069", "name"},                                    // bidi isolates
		{"a@example.com", "Ann\u200b", "name"},                                           // zero-width space
		{"a@example.com", "Ann\x85", "name"},                                             // C1 control (NEL)
		{"a@example.com", "Ann\x1b[31m", "name"},                                         // ESC
		{"a@example.com", "Ann\u00adSmith", "name"},                                      // soft hyphen
		{long, "", "email"},                                                              // 65-octet local part
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", "", "email"}, // 255 bytes
		{"a\u202e@example.com", "", "email"},
	} {
		err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: tc.email, Name: tc.name})
		var fe *subscription.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("email %q name %q: %v, want a field error on %s", tc.email, tc.name, err, tc.field)
		}
	}
	for _, ok := range []struct{ email, name string }{
		{strings.Repeat("a", 64) + "@example.com", "Ann"},
		{"b@example.com", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}, // Persian, with a ZWNJ
		{"c@example.com", "\U0001F469\u200d\U0001F4BB Ann"},                   // ZWJ emoji
	} {
		if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: ok.email, Name: ok.name}); err != nil {
			t.Errorf("email %q name %q refused: %v", ok.email, ok.name, err)
		}
	}
}
