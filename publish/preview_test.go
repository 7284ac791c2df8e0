package publish

import (
	"reflect"
	"testing"
)

func TestHeadersOf(t *testing.T) {
	msg := "From: =?utf-8?q?Caf=C3=A9_News?= <news@example.com>\r\n" +
		"Subject: A long subject\r\n that was folded\r\n\ttwice\r\n" +
		"List-Unsubscribe: <https://example.com/u/x>\r\n" +
		"\r\n" +
		"Body: not a header\r\n"
	want := []Header{
		{"From", "Café News <news@example.com>"},
		{"Subject", "A long subject that was folded twice"},
		{"List-Unsubscribe", "<https://example.com/u/x>"},
	}
	if got := headersOf([]byte(msg)); !reflect.DeepEqual(got, want) {
		t.Errorf("headersOf = %q\nwant %q", got, want)
	}
}
