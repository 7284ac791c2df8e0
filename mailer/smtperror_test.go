package mailer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"syscall"
	"testing"
)

// TestSplitEnhanced: the enhanced status code is taken from the first line
// of a reply when its class agrees with the reply's; every line loses its
// repeated code, and lines are joined with spaces.
func TestSplitEnhanced(t *testing.T) {
	tests := []struct {
		code           int
		msg            string
		enhanced, text string
	}{
		{550, "5.1.1 no such user", "5.1.1", "no such user"},
		{250, "2.0.0 queued as 1234", "2.0.0", "queued as 1234"},
		{451, "4.3.0 try\n4.3.0 again later", "4.3.0", "try again later"},
		{550, "4.1.1 a code of another class", "", "4.1.1 a code of another class"},
		{550, "no code at all", "", "no code at all"},
		{550, "5.1.1", "5.1.1", ""},
		{550, "first line without\n5.1.1 a code on the second", "", "first line without a code on the second"},
		{554, "  5.7.1   spaced out  ", "5.7.1", "spaced out"},
	}
	for _, tt := range tests {
		enhanced, text := splitEnhanced(tt.code, tt.msg)
		if enhanced != tt.enhanced || text != tt.text {
			t.Errorf("splitEnhanced(%d, %q) = %q, %q; want %q, %q", tt.code, tt.msg, enhanced, text, tt.enhanced, tt.text)
		}
	}
}

// TestIsEnhancedCode: class 2, 4 or 5, then two numbers of one to three
// digits (RFC 3463).
func TestIsEnhancedCode(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"5.1.1", true}, {"2.0.0", true}, {"4.7.1", true}, {"5.0.9", true}, {"5.999.999", true}, {"5.10.10", true},
		{"", false}, {"5", false}, {"5.1", false}, {"5.1.1.1", false},
		{"1.1.1", false}, {"3.1.1", false}, {"6.1.1", false}, {"50.1.1", false},
		{"5..1", false}, {"5.1.", false}, {"5.1000.1", false}, {"5.1.1000", false},
		{"5.a.1", false}, {"5.1.x", false}, {"5./.1", false}, {"5.:.1", false}, {"5.1./", false}, {"5.1.:", false},
		{"5.1a.1", false}, {"5.1.1a", false},
	}
	for _, tt := range tests {
		if got := isEnhancedCode(tt.s); got != tt.ok {
			t.Errorf("isEnhancedCode(%q) = %v, want %v", tt.s, got, tt.ok)
		}
	}
}

// TestSMTPFailure: a reply keeps its codes and is temporary when 4xx; any
// other error is temporary when it comes from the network, and TLS that
// cannot agree is permanent.
func TestSMTPFailure(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		enhanced string
		message  string
		temp     bool
	}{
		{"421", &textproto.Error{Code: 421, Msg: "4.3.2 shutting down"}, 421, "4.3.2", "shutting down", true},
		{"499", &textproto.Error{Code: 499, Msg: "odd"}, 499, "", "odd", true},
		{"500", &textproto.Error{Code: 500, Msg: "5.5.2 what"}, 500, "5.5.2", "what", false},
		{"554", &textproto.Error{Code: 554, Msg: "5.7.1 no"}, 554, "5.7.1", "no", false},
		{"399", &textproto.Error{Code: 399, Msg: "odd"}, 399, "", "odd", false},
		{"wrapped reply", fmt.Errorf("smtp: %w", &textproto.Error{Code: 452, Msg: "4.2.2 full"}), 452, "4.2.2", "full", true},
		{"EOF", io.EOF, 0, "", "EOF", true},
		{"unexpected EOF", io.ErrUnexpectedEOF, 0, "", io.ErrUnexpectedEOF.Error(), true},
		{"closed", net.ErrClosed, 0, "", net.ErrClosed.Error(), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, 0, "", "read tcp: " + syscall.ECONNRESET.Error(), true},
		{"broken pipe", syscall.EPIPE, 0, "", syscall.EPIPE.Error(), true},
		{"cancelled", context.Canceled, 0, "", "context canceled", true},
		{"deadline", context.DeadlineExceeded, 0, "", "context deadline exceeded", true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 0, "", "dial tcp: " + syscall.ECONNREFUSED.Error(), true},
		{"untrusted certificate", x509.UnknownAuthorityError{}, 0, "", x509.UnknownAuthorityError{}.Error(), false},
		{"wrong host", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mx.example.com"}, 0, "",
			x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mx.example.com"}.Error(), false},
		{"other", errors.New("something else"), 0, "", "something else", false},
	}
	for _, tt := range tests {
		e := smtpFailure("RCPT TO", "SMTP server mx:25 refused recipient <a@example.com>", tt.err)
		if e.Code != tt.code || e.Enhanced != tt.enhanced || e.Message != tt.message || e.Temporary != tt.temp || e.Command != "RCPT TO" {
			t.Errorf("%s: %+v, want code %d, enhanced %q, message %q, temporary %v", tt.name, *e, tt.code, tt.enhanced, tt.message, tt.temp)
		}
		if !errors.Is(e, tt.err) {
			t.Errorf("%s: errors.Is does not reach the underlying error", tt.name)
		}
	}
}

// TestSMTPErrorText: the error reads "mailer: what: code enhanced text",
// each part only when there is one; without a reply, the cause.
func TestSMTPErrorText(t *testing.T) {
	const what = "SMTP server mx:25 refused recipient <a@example.com>"
	tests := []struct {
		e    *SMTPError
		want string
	}{
		{smtpFailure("RCPT TO", what, &textproto.Error{Code: 550, Msg: "5.1.1 no such user"}), "mailer: " + what + ": 550 5.1.1 no such user"},
		{smtpFailure("RCPT TO", what, &textproto.Error{Code: 550, Msg: "no such user"}), "mailer: " + what + ": 550 no such user"},
		{smtpFailure("RCPT TO", what, &textproto.Error{Code: 550, Msg: "5.1.1"}), "mailer: " + what + ": 550 5.1.1"},
		{smtpFailure("RCPT TO", what, &textproto.Error{Code: 550, Msg: ""}), "mailer: " + what + ": 550"},
		{smtpFailure("CONNECT", "cannot connect to SMTP server mx:25", io.EOF), "mailer: cannot connect to SMTP server mx:25: EOF"},
		{smtpRefusal("STARTTLS", "SMTP server mx:25 does not offer STARTTLS"), "mailer: SMTP server mx:25 does not offer STARTTLS"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if r := smtpRefusal("AUTH", "no AUTH"); r.Temporary || r.Code != 0 || r.Command != "AUTH" || r.Unwrap() != nil {
		t.Errorf("smtpRefusal = %+v, want a permanent refusal of AUTH without a cause", *r)
	}
}
