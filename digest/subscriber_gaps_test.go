package digest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
)

func TestNormalizeEmailBounds(t *testing.T) {
	local := strings.Repeat("a", 64)
	exact := local + "@" + strings.Repeat("b", digest.MaxEmailLength-len(local)-len("@.org")) + ".org"
	if len(exact) != digest.MaxEmailLength {
		t.Fatalf("test address is %d bytes", len(exact))
	}
	if got, err := digest.NormalizeEmail("  " + strings.ToUpper(exact) + "\t"); err != nil || got != exact {
		t.Errorf("an address of exactly %d bytes: %q, %v", digest.MaxEmailLength, got, err)
	}
	// One byte more before the @ (the address still well under 254) is
	// refused for that reason.
	long := "x" + local + "@example.org"
	if got, err := digest.NormalizeEmail(long); !errors.Is(err, digest.ErrBadEmail) ||
		err.Error() != "the part before the @ is longer than 64 bytes" {
		t.Errorf("a local part of 65 bytes: %q, %v", got, err)
	}
	for _, bad := range []string{
		"", "   ", "x" + exact, "a@b", "a@.example.org", "a@example.org.", "a@[127.0.0.1]",
		"Reader <a@example.org>", "a@example.org\r\nBcc: b@example.org", "a\x00@example.org",
		"a\x01b@example.org", "a\x7fb@example.org", "not an address",
	} {
		if got, err := digest.NormalizeEmail(bad); !errors.Is(err, digest.ErrBadEmail) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrBadEmail", bad, got, err)
		}
	}
}

func TestStatusAndFormatValid(t *testing.T) {
	for _, s := range digest.Statuses {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
	}
	for _, s := range []digest.SubscriberStatus{"", "Active", "deleted"} {
		if s.Valid() {
			t.Errorf("status %q valid", s)
		}
	}
	if !digest.FormatHTML.Valid() || !digest.FormatText.Valid() || digest.MailFormat("pdf").Valid() || digest.MailFormat("").Valid() {
		t.Error("MailFormat.Valid")
	}
}

func TestSendJobRemaining(t *testing.T) {
	for _, c := range []struct{ total, sent, failed, want int64 }{
		{10, 3, 2, 5}, {10, 10, 0, 0}, {10, 0, 0, 10}, {10, 8, 4, 0}, {0, 0, 0, 0},
	} {
		if got := (digest.SendJob{Total: c.total, Sent: c.sent, Failed: c.failed}).Remaining(); got != c.want {
			t.Errorf("total %d sent %d failed %d: remaining %d, want %d", c.total, c.sent, c.failed, got, c.want)
		}
	}
}
