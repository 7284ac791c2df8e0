package templates

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

//go:embed mail/*
var mailFS embed.FS

// ConfirmationData is what the confirmation mail shows: what the reader
// signs up for, and the links. Nothing typed into the form appears in it
// (not even a name), so the form cannot be used to mail a stranger words
// of one's choosing.
type ConfirmationData struct {
	SiteTitle      string
	SiteURL        string
	Frequency      string // "once a day"
	ConfirmURL     string
	PreferencesURL string
	AlreadyActive  bool
}

// Mails renders the emails about a subscription.
type Mails struct {
	confirmText *texttemplate.Template
	confirmHTML *htmltemplate.Template
}

// NewMails parses the embedded mail templates.
func NewMails() (*Mails, error) {
	text, err := texttemplate.ParseFS(mailFS, "mail/confirm.txt")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	html, err := htmltemplate.ParseFS(mailFS, "mail/confirm.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return &Mails{confirmText: text, confirmHTML: html}, nil
}

// Confirmation renders the confirmation mail: subject, text and HTML.
func (m *Mails) Confirmation(d ConfirmationData) (subject, text, html string, err error) {
	subject = "Confirm your subscription to " + d.SiteTitle
	if d.AlreadyActive {
		subject = "You are subscribed to " + d.SiteTitle
	}
	var t, h bytes.Buffer
	if err := m.confirmText.Execute(&t, d); err != nil {
		return "", "", "", fmt.Errorf("templates: confirmation text: %w", err)
	}
	if err := m.confirmHTML.Execute(&h, d); err != nil {
		return "", "", "", fmt.Errorf("templates: confirmation html: %w", err)
	}
	// A subject is one line, whatever the title holds.
	subject = strings.Join(strings.Fields(subject), " ")
	return subject, t.String(), h.String(), nil
}
