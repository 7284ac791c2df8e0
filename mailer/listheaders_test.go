package mailer

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckListHelp: List-Help takes an https: (or http:) URL or a mailto:
// URI with an ASCII address, and nothing that would end the <…> early.
func TestCheckListHelp(t *testing.T) {
	tests := []struct {
		u  string
		ok bool
	}{
		{"https://news.example.com/help", true},
		{"http://news.example.com/help", true},
		{"mailto:help@example.com", true},
		{"mailto:help@example.com?subject=help", true},
		{"mailto:", false},
		{"mailto:not an address", false},
		{"mailto:hélp@example.com", false},
		{"mailto:help@example.com?subject=a,b", false},
		{"mailto:help@example.com?subject=<x>", false},
		{`mailto:help@example.com?subject="x"`, false},
		{"mailto:help@example.com?subject=a b", false},
		{"ftp://example.com/help", false},
		{"news.example.com/help", false},
		{"https://", false},
		{"https://news.example.com/help>", false},
		{"https://news.example.com/a,b", false},
	}
	for _, tt := range tests {
		err := CheckListHelp(tt.u)
		if (err == nil) != tt.ok {
			t.Errorf("CheckListHelp(%q) = %v, want ok %v", tt.u, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("CheckListHelp(%q) = %v, want ErrInvalidMessage", tt.u, err)
		}
	}
}

// TestCheckListURL: a link for a header or the body is an absolute http(s)
// URL of at most 900 bytes, ASCII, without white space or a character that
// would end it early; a comma only in the body (it separates
// List-Unsubscribe's URIs).
func TestCheckListURL(t *testing.T) {
	at900 := "https://example.com/" + strings.Repeat("a", 900-len("https://example.com/"))
	tests := []struct {
		u            string
		header, body bool // accepted in a header, in the body
	}{
		{"https://news.example.com/unsubscribe/u1", true, true},
		{"http://news.example.com/unsubscribe/u1", true, true},
		{at900, true, true},
		{at900 + "a", false, false},
		{"https://news.example.com/a,b", false, true},
		{"https://news.example.com/a b", false, false},
		{"https://news.example.com/a\tb", false, false},
		{"https://news.example.com/a\x7fb", false, false},
		{"https://news.example.com/é", false, false},
		{"https://news.example.com/~a!$&'()*+;=:@-._", true, true},
		{"https://news.example.com/a<b", false, false},
		{"https://news.example.com/a>", false, false},
		{`https://news.example.com/a"`, false, false},
		{"https://news.example.com/a{b}", false, false},
		{"https://news.example.com/a|b", false, false},
		{"https://news.example.com/a^b", false, false},
		{"https://news.example.com/a`b", false, false},
		{"https://news.example.com/a\\b", false, false},
		{"https:///path", false, false},
		{"https://", false, false},
		{"http://", false, false},
		{"//news.example.com/u1", false, false},
		{"javascript:alert(1)", false, false},
	}
	for _, tt := range tests {
		if err := checkListURL(tt.u, true); (err == nil) != tt.header {
			t.Errorf("checkListURL(%.40q, header) = %v, want ok %v", tt.u, err, tt.header)
		} else if err != nil && !strings.Contains(err.Error(), "unsubscribe link") {
			t.Errorf("checkListURL(%.40q, header) = %v, want it to name the unsubscribe link", tt.u, err)
		}
		if err := checkListURL(tt.u, false); (err == nil) != tt.body {
			t.Errorf("checkListURL(%.40q, body) = %v, want ok %v", tt.u, err, tt.body)
		} else if err != nil && !strings.Contains(err.Error(), "preferences link") {
			t.Errorf("checkListURL(%.40q, body) = %v, want it to name the preferences link", tt.u, err)
		}
	}
}

// TestReplyToField: a Reply-To setting is an ASCII address, with or without
// a display name, written as a field value that cannot break the header.
func TestReplyToField(t *testing.T) {
	tests := []struct {
		in, want string // want "": refused
	}{
		{"desk@example.com", "desk@example.com"},
		{"Desk <desk@example.com>", "Desk <desk@example.com>"},
		{`"The Desk, Daily" <desk@example.com>`, `"The Desk, Daily" <desk@example.com>`},
		{"Café Desk <desk@example.com>", "=?UTF-8?q?Caf=C3=A9_Desk?= <desk@example.com>"},
		{"<desk@example.com>", "desk@example.com"},
		{"desk@example.com\r\nBcc: all@example.com", ""},
		{"desk@example.com\nBcc: all@example.com", ""},
		{"not an address", ""},
		{"désk@example.com", ""},
	}
	for _, tt := range tests {
		got, err := ReplyToField(tt.in)
		if tt.want == "" {
			if err == nil || !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("ReplyToField(%q) = %q, %v; want ErrInvalidMessage", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ReplyToField(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
