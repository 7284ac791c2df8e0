// Package feedback brings back what happens to mail after the relay took
// it: delivery status notifications (RFC 3464), abuse reports (RFC 5965),
// mailto: unsubscribes, and the same from provider webhooks. It reads them
// into Events; Service applies them to the list (through subscription's
// store) and keeps them. Reports arrive through the inbound SMTP listener
// (Listener), a polled mailbox (Poller) or webhooks (web routes them here).
package feedback

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// Addresses mints and reads the addresses reports come back to: the
// bounce address (bounces@news.example.com) with a tag in the envelope
// sender of every mail (bounces+TAG@news.example.com, VERP), and the
// unsubscribe address (unsubscribe@…) with a tag in each subscriber's
// List-Unsubscribe mailto:. mailer.ReturnPaths is met by it. Tags name
// the day they are minted (the sending day): now is the clock (time.Now
// when nil).
type Addresses struct {
	bounceLocal, bounceDomain string // lower-case
	unsubLocal, unsubDomain   string // "" when mailto: unsubscribes are off
	tags                      *subscription.Signer
	now                       func() time.Time
}

// NewAddresses returns the Addresses around bounce (a bare address such as
// bounces@news.example.com) and unsubscribe ("" for unsubscribe@ the bounce
// domain; "-" for no mailto: unsubscribes).
func NewAddresses(bounce, unsubscribe string, tags *subscription.Signer, now func() time.Time) (*Addresses, error) {
	if now == nil {
		now = time.Now
	}
	a := &Addresses{tags: tags, now: now}
	var err error
	if a.bounceLocal, a.bounceDomain, err = splitBase(bounce); err != nil {
		return nil, fmt.Errorf("feedback: the bounce address: %w", err)
	}
	switch unsubscribe {
	case "-":
	case "":
		a.unsubLocal, a.unsubDomain = "unsubscribe", a.bounceDomain
	default:
		if a.unsubLocal, a.unsubDomain, err = splitBase(unsubscribe); err != nil {
			return nil, fmt.Errorf("feedback: the unsubscribe address: %w", err)
		}
	}
	if a.unsubLocal == a.bounceLocal && a.unsubDomain == a.bounceDomain {
		return nil, errors.New("feedback: the unsubscribe address must differ from the bounce address")
	}
	return a, nil
}

// splitBase checks a base address: bare, ASCII, no '+' (the tag's
// separator) and nothing a mailto: URI would need to escape.
func splitBase(addr string) (local, domain string, err error) {
	a, perr := mail.ParseAddress(addr)
	if perr != nil || a.Name != "" || a.Address != addr {
		return "", "", fmt.Errorf("%q is not a bare email address", addr)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`+?%<>,"\`, c) >= 0 {
			return "", "", fmt.Errorf("%q must be ASCII, without + ? %% < > , \" or \\", addr)
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if len(addr[:at]) > 64-1-maxTag {
		return "", "", fmt.Errorf("the local part of %q is too long to carry a tag", addr)
	}
	return strings.ToLower(addr[:at]), strings.ToLower(addr[at+1:]), nil
}

// maxTag is the longest tag SignTag writes for a subscriber id below 2^62.
const maxTag = 40

// Bounce returns the bare bounce address.
func (a *Addresses) Bounce() string { return a.bounceLocal + "@" + a.bounceDomain }

// Unsubscribe returns the bare unsubscribe address ("" when off).
func (a *Addresses) Unsubscribe() string {
	if a.unsubLocal == "" {
		return ""
	}
	return a.unsubLocal + "@" + a.unsubDomain
}

// ReturnPath returns the envelope sender of subscriber's copy of edition
// ("YYYY-MM-DD"): bounces+TAG@domain.
func (a *Addresses) ReturnPath(subscriber int64, edition string) string {
	return a.tagged(subscription.TagBounce, a.bounceLocal, a.bounceDomain, subscriber, edition)
}

// UnsubscribeAddress returns subscriber's unsubscribe address for
// List-Unsubscribe's mailto: ("" when off).
func (a *Addresses) UnsubscribeAddress(subscriber int64, edition string) string {
	if a.unsubLocal == "" {
		return ""
	}
	return a.tagged(subscription.TagUnsubscribe, a.unsubLocal, a.unsubDomain, subscriber, edition)
}

// ConfirmationReturnPath returns the envelope sender of a confirmation
// mail to subscriber sent at sent.
func (a *Addresses) ConfirmationReturnPath(subscriber int64, sent time.Time) string {
	y, m, d := sent.UTC().Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	tag := a.tags.SignTag(subscription.TagBounce, subscription.Tag{Subscriber: subscriber,
		Day: day, Confirmation: true, Sent: day})
	if tag == "" {
		return a.Bounce()
	}
	return a.bounceLocal + "+" + tag + "@" + a.bounceDomain
}

func (a *Addresses) tagged(purpose subscription.TagPurpose, local, domain string, subscriber int64, edition string) string {
	day, err := digest.ParseDay(edition)
	if err != nil {
		return local + "@" + domain
	}
	tag := a.tags.SignTag(purpose, subscription.Tag{Subscriber: subscriber, Day: day, Sent: a.now()})
	if tag == "" {
		return local + "@" + domain
	}
	return local + "+" + tag + "@" + domain
}

// Match reads a recipient address: whether it is the bounce or the
// unsubscribe address (any letter case, with or without a tag), and the
// tag it carries ("" for none). The tag is not checked here.
func (a *Addresses) Match(rcpt string) (purpose subscription.TagPurpose, tag string, ok bool) {
	rcpt = strings.ToLower(strings.Trim(strings.TrimSpace(rcpt), "<>"))
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return 0, "", false
	}
	local, domain := rcpt[:at], rcpt[at+1:]
	base, tag, _ := strings.Cut(local, "+")
	switch {
	case base == a.bounceLocal && domain == a.bounceDomain:
		return subscription.TagBounce, tag, true
	case a.unsubLocal != "" && base == a.unsubLocal && domain == a.unsubDomain:
		return subscription.TagUnsubscribe, tag, true
	}
	return 0, "", false
}

// ParseSoftLimit reads --soft-bounce-limit: "3/15d" (3 soft bounces within
// 15 days) or "3/360h".
func ParseSoftLimit(s string) (int, time.Duration, error) {
	n, w, ok := strings.Cut(s, "/")
	limit, err := strconv.Atoi(n)
	if !ok || err != nil || limit < 1 || limit > 100 {
		return 0, 0, fmt.Errorf("%q is not N/WINDOW like 3/15d (N from 1 to 100)", s)
	}
	var window time.Duration
	if days, ok := strings.CutSuffix(w, "d"); ok {
		d, err := strconv.Atoi(days)
		if err != nil || d < 1 || d > 85 {
			return 0, 0, fmt.Errorf("%q: the window must be from 1d to 85d", s)
		}
		window = time.Duration(d) * 24 * time.Hour
	} else if window, err = time.ParseDuration(w); err != nil || window < time.Hour || window > maxTagAge {
		return 0, 0, fmt.Errorf("%q: the window must be a duration from 1h to 85d", s)
	}
	return limit, window, nil
}
