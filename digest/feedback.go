package digest

import "time"

// FeedbackEvent is one report that came back about a subscriber's mail: a
// bounce, a complaint or a mailto: unsubscribe (package feedback reads
// them; store keeps them).
type FeedbackEvent struct {
	ID         string // the store's id, which orders events by arrival
	Subscriber int64
	Email      string
	Edition    string // "" for a confirmation mail, or when not known
	Kind       string // "hard", "soft", "complaint", "unsubscribe"
	Diagnostic string // what the report said, one line
	Source     string // "inbound", "mailbox", "webhook:<provider>"
	At         time.Time
}
