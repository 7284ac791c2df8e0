package mailer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
)

// SMTPError is how SMTP reports a failed delivery: the server's reply when
// there was one, and whether trying again later may succeed. Callers reach
// it with errors.As:
//
//	var se *mailer.SMTPError
//	if errors.As(err, &se) && se.Command == "RCPT TO" && !se.Temporary { … hard bounce … }
type SMTPError struct {
	// Code is the server's reply code (550), or 0 when the server did not
	// answer: the connection failed, or broadsheet refused to go on.
	Code int
	// Enhanced is the RFC 3463 status code the reply began with ("5.1.1"),
	// or "".
	Enhanced string
	// Message is the server's reply text without the codes, or a
	// description of what failed when there was no reply.
	Message string
	// Temporary reports whether trying again later may succeed: 4xx replies
	// and network failures are temporary, 5xx replies permanent. A network
	// failure while waiting for the reply to a sent message (Command
	// "DATA") may hide a delivery: trying again may send it twice.
	Temporary bool
	// Command is the step that failed: "CONNECT", "TLS", "EHLO",
	// "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA" (which includes
	// the reply to the message's content).
	Command string

	what string // what was being done, for Error
	err  error  // the underlying error
}

// Error reads like "mailer: SMTP server mx.example.com:587 refused
// recipient <a@example.com>: 550 5.1.1 no such user".
func (e *SMTPError) Error() string {
	var b strings.Builder
	b.WriteString("mailer: ")
	b.WriteString(e.what)
	switch {
	case e.Code != 0:
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(e.Code))
		if e.Enhanced != "" {
			b.WriteString(" ")
			b.WriteString(e.Enhanced)
		}
		if e.Message != "" {
			b.WriteString(" ")
			b.WriteString(e.Message)
		}
	case e.err != nil:
		b.WriteString(": ")
		b.WriteString(e.err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error: a *textproto.Error for a reply, a
// network error, context.Canceled …
func (e *SMTPError) Unwrap() error { return e.err }

// smtpFailure describes err, which happened during command, as an
// SMTPError. A server reply keeps its codes; other errors are temporary
// when they come from the network, permanent otherwise (a certificate that
// does not verify will not verify on the next try).
//
// go-mail's own SendError is not used: it hides the reply behind a string,
// and its IsTemp treats network errors as permanent.
func smtpFailure(command, what string, err error) *SMTPError {
	e := &SMTPError{Command: command, what: what, err: err}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		e.Code = reply.Code
		e.Enhanced, e.Message = splitEnhanced(reply.Code, reply.Msg)
		e.Temporary = reply.Code/100 == 4
		return e
	}
	e.Message = err.Error()
	e.Temporary = isNetworkError(err)
	return e
}

// smtpRefusal is an SMTPError for a step broadsheet refuses to take, such
// as going on without the TLS the URL asks for. It is permanent: the
// server's offer will be the same next time.
func smtpRefusal(command, what string) *SMTPError {
	return &SMTPError{Command: command, Message: what, what: what}
}

func isNetworkError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordHeader tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostname),
		errors.As(err, &invalidCert), errors.As(err, &recordHeader), errors.As(err, &alert):
		// TLS that cannot agree will not agree on the next try.
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// splitEnhanced separates the enhanced status code from a reply's text. A
// code whose class differs from the reply's is not one (RFC 2034 says they
// agree), so it stays in the text. Lines of a multi-line reply are joined
// with spaces, each without its repeated code.
func splitEnhanced(code int, msg string) (enhanced, text string) {
	class := strconv.Itoa(code / 100)
	lines := strings.Split(msg, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		word, rest, _ := strings.Cut(line, " ")
		if isEnhancedCode(word) && word[:1] == class {
			if i == 0 {
				enhanced = word
			}
			line = strings.TrimSpace(rest)
		}
		lines[i] = line
	}
	return enhanced, strings.Join(lines, " ")
}

// isEnhancedCode reports whether s is an RFC 3463 status code:
// class.subject.detail, class 2, 4 or 5, the others one to three digits.
func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}
