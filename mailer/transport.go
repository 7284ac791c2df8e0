package mailer

import (
	"context"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers composed messages. SMTP and Maildir are safe for
// concurrent use.
type Transport interface {
	// Deliver hands msg to the next hop. A nil error means the next hop
	// took responsibility for it: an SMTP server answered 250, or the file
	// is in the Maildir's new/.
	Deliver(ctx context.Context, msg *gomail.Msg) error
	// Close releases what the transport holds open.
	Close() error
}
