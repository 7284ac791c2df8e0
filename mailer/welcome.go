package mailer

import (
	"context"
	"fmt"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
)

// WelcomeLedger is the part of the delivery ledger the welcome mail uses.
// store.Store meets it.
type WelcomeLedger interface {
	Handled(ctx context.Context, edition string, from, to int64) (delivered, failed func(int64) bool, err error)
	MarkDelivered(ctx context.Context, edition string, id int64, now time.Time) (bool, error)
}

// Welcomer mails one edition to one new subscriber at once, through the
// edition's ledger: a subscriber who has it is not sent it again, and the
// edition's send skips a subscriber who got it this way.
type Welcomer struct {
	ledger   WelcomeLedger
	links    Links
	opener   Opener
	digestOf func(digest.Edition) (*Digest, error)
	now      func() time.Time
}

// NewWelcomer returns a Welcomer. digestOf renders an edition for mailing.
func NewWelcomer(ledger WelcomeLedger, links Links, opener Opener, digestOf func(digest.Edition) (*Digest, error), now func() time.Time) *Welcomer {
	return &Welcomer{ledger: ledger, links: links, opener: opener, digestOf: digestOf, now: now}
}

// Send mails e to sub unless the ledger shows they have it, and reports
// whether it did.
func (w *Welcomer) Send(ctx context.Context, e digest.Edition, sub digest.Subscriber) (bool, error) {
	if len(e.Page.Headlines) == 0 {
		return false, ErrEmptyEdition
	}
	delivered, _, err := w.ledger.Handled(ctx, e.ID, sub.ID, sub.ID+1)
	if err != nil {
		return false, fmt.Errorf("mailer: welcome: %w", err)
	}
	if delivered(sub.ID) {
		return false, nil
	}
	d, err := w.digestOf(e)
	if err != nil {
		return false, fmt.Errorf("mailer: welcome: %w", err)
	}
	msg, err := d.Message(RecipientOf(sub, w.links.UnsubscribeURL(sub.ID), w.links.PreferencesURL(sub.ID)))
	if err != nil {
		return false, fmt.Errorf("mailer: welcome: %w", err)
	}
	conn, err := w.opener.Open(ctx)
	if err != nil {
		return false, fmt.Errorf("mailer: welcome: %w", err)
	}
	defer conn.Close()
	if err := conn.Send(ctx, d.From(), sub.Email, msg); err != nil {
		return false, fmt.Errorf("mailer: welcome: %w", err)
	}
	// Accepted: into the ledger, so the edition's send skips them.
	if _, err := w.ledger.MarkDelivered(context.WithoutCancel(ctx), e.ID, sub.ID, w.now()); err != nil {
		return true, fmt.Errorf("mailer: welcome: %w", err)
	}
	return true, nil
}
