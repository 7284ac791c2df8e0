package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/templates"
)

// mailSettings are the settings of the edition mail (sendFlags registers
// them for serve, send and preview).
type mailSettings struct {
	PostalAddress string
	TemplatesDir  string
	Subject       string
	ReplyTo       string
	ListHelp      string
}

func (s *mailSettings) flags(f *envFlags) {
	f.string(&s.PostalAddress, "postal-address", "", `the sender's postal address, printed at the foot of every edition mail (CAN-SPAM and similar laws require one); "\n" separates lines`)
	f.string(&s.TemplatesDir, "templates-dir", "", "directory whose edition.html and edition.txt replace the embedded mail templates")
	f.string(&s.Subject, "subject", templates.DefaultSubject, "the edition mail's subject, a Go template: .Title is the publication, .Lead.Title the lead's title, .Date the day written out")
	f.string(&s.ReplyTo, "reply-to", "", `Reply-To of the edition mail, e.g. "The Desk <desk@example.com>" (default: none: replies go to --from)`)
	f.string(&s.ListHelp, "list-help", "", "List-Help URI of the edition mail: an https: page or a mailto: address (default: none)")
}

// load parses the mail templates (with their overrides). Every mistake is
// a usage error naming its flag.
func (s *mailSettings) load(cfg *config, dkim *mailer.DKIM) (*templates.EditionMail, mailer.DigestConfig, error) {
	mails, err := templates.NewEditionMail(templates.EditionMailOptions{Dir: s.TemplatesDir, Subject: s.Subject})
	if err != nil {
		return nil, mailer.DigestConfig{}, usageErrorf("mail templates (--templates-dir, --subject): %v", err)
	}
	dc := mailer.DigestConfig{
		Site:     templates.MailSite{Title: cfg.Title, Base: cfg.baseURL, PostalAddress: s.PostalAddress},
		DKIM:     dkim,
		ReplyTo:  strings.TrimSpace(s.ReplyTo),
		ListHelp: strings.TrimSpace(s.ListHelp),
	}
	if dc.ReplyTo != "" {
		if _, err := mailer.ReplyToField(dc.ReplyTo); err != nil {
			return nil, mailer.DigestConfig{}, usageErrorf("--reply-to: %v", err)
		}
	}
	if dc.ListHelp != "" {
		if err := mailer.CheckListHelp(dc.ListHelp); err != nil {
			return nil, mailer.DigestConfig{}, usageErrorf("--list-help: %v", err)
		}
	}
	return mails, dc, nil
}

// warn logs the settings a sender of bulk mail will regret.
func (s *mailSettings) warn(logger *slog.Logger) {
	if strings.TrimSpace(s.PostalAddress) == "" {
		logger.Warn("No postal address in the edition mail: set BROADSHEET_POSTAL_ADDRESS (CAN-SPAM and similar laws require one)")
	}
}

func runPreview(ctx context.Context, args []string, sys stdio) error {
	cfg := newConfig()
	f := newFlags("preview", "[--edition YYYY-MM-DD] [--format html|text|eml] [--to EMAIL] [flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.linkFlags(f)
	cfg.mailFlags(f)
	cfg.digestFlags(f)
	edition := f.fs.String("edition", "", "the edition's day, YYYY-MM-DD (default: the latest edition)")
	format := f.fs.String("format", "html", "what to print: html (the HTML part), text (the text part) or eml (the whole message, as sent)")
	to := f.fs.String("to", "", "preview the mail of this subscriber (default: a sample subscriber, reader@example.com)")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("preview: unexpected argument %q", f.fs.Arg(0))
	}
	if *format != "html" && *format != "text" && *format != "eml" {
		return usageErrorf("--format %q is not html, text or eml", *format)
	}
	a, e, err := openEdition(ctx, &cfg, sys, *edition)
	if err != nil {
		return err
	}
	defer a.Close()
	sub := digest.Subscriber{ID: mailer.SampleSubscriberID, Email: "reader@example.com", Name: "Sample Reader", Format: digest.FormatHTML}
	if *to != "" {
		email, err := digest.NormalizeEmail(*to)
		if err != nil {
			return usageErrorf("--to: %v", err)
		}
		if sub, err = a.store.SubscriberByEmail(ctx, email); errors.Is(err, digest.ErrNotFound) {
			return usageErrorf("--to: no subscriber %s", email)
		} else if err != nil {
			return err
		}
	}

	d, err := a.digestOf(e)
	if err != nil {
		return err
	}
	r := mailer.RecipientOf(sub, a.subs.UnsubscribeURL(sub.ID), a.subs.PreferencesURL(sub.ID))
	switch *format {
	case "html":
		_, err = fmt.Fprint(sys.stdout, d.HTML(r))
	case "text":
		_, err = fmt.Fprint(sys.stdout, d.Text(r))
	case "eml":
		var msg []byte
		if msg, err = d.Message(r); err == nil {
			_, err = sys.stdout.Write(msg)
		}
	}
	return err
}

// openEdition checks an --edition value, opens the app for a command that
// renders or mails editions and returns
// that edition, or the latest when id is "". The caller closes the app.
func openEdition(ctx context.Context, cfg *config, sys stdio, id string) (*app, digest.Edition, error) {
	if id != "" {
		if _, err := digest.ParseDay(id); err != nil {
			return nil, digest.Edition{}, usageErrorf("--edition %q is not a day in YYYY-MM-DD form", id)
		}
	}
	a, err := newApp(ctx, cfg, sys)
	if err != nil {
		return nil, digest.Edition{}, err
	}
	if err := a.openSending(); err != nil {
		a.Close()
		return nil, digest.Edition{}, err
	}
	e, err := editionOrLatest(ctx, a, id)
	if err != nil {
		a.Close()
		return nil, digest.Edition{}, err
	}
	return a, e, nil
}

// editionOrLatest returns edition id, or the latest when id is "".
func editionOrLatest(ctx context.Context, a *app, id string) (digest.Edition, error) {
	if id == "" {
		latest, err := a.store.LatestEditions(ctx, 1)
		if err != nil {
			return digest.Edition{}, err
		}
		if len(latest) == 0 {
			return digest.Edition{}, usageErrorf("there is no edition yet: build one first (broadsheet build)")
		}
		return latest[0], nil
	}
	e, err := a.pub.Edition(ctx, id)
	if errors.Is(err, digest.ErrNotFound) {
		return digest.Edition{}, usageErrorf("there is no edition %s (broadsheet build --date %s builds it)", id, id)
	}
	return e, err
}
