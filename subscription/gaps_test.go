package subscription_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/subscription"
)

const gapsSecret = "service-test-secret-0123"

// rendered records every confirmation mail the service renders.
type rendered struct {
	mu    sync.Mutex
	mails []subscription.ConfirmationMail
	fail  error
}

func (r *rendered) render(m subscription.ConfirmationMail) (string, string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return "", "", "", r.fail
	}
	r.mails = append(r.mails, m)
	return "Confirm", "Confirm: " + m.ConfirmURL + "\n", "", nil
}

func (r *rendered) all() []subscription.ConfirmationMail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]subscription.ConfirmationMail(nil), r.mails...)
}

// recording makes f.svc a Service (default TTLs) on f's store and Maildir
// whose confirmation mails are recorded.
func recording(t *testing.T, f *fixture) *rendered {
	t.Helper()
	md, err := mailer.NewMaildir(f.outbox)
	if err != nil {
		t.Fatal(err)
	}
	composer, _ := mailer.NewComposer("Test <news@example.com>", func() time.Time { return f.now })
	r := &rendered{}
	f.svc = serviceOn(f, f.store, mailer.New(composer, md, nil, slog.New(slog.DiscardHandler)), r)
	return r
}

func serviceOn(f *fixture, st subscription.Store, sender subscription.Sender, r *rendered) *subscription.Service {
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	return subscription.New(st, sender, signer, subscription.Config{Title: "Gaps Daily", BaseURL: base, ConsentText: "v2",
		RenderConfirmation: r.render}, func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
}

// token is the token in a link of the given kind ("confirm",
// "unsubscribe", "preferences").
func token(t *testing.T, link, kind string) string {
	t.Helper()
	tok, ok := strings.CutPrefix(link, "https://news.example.com/"+kind+"/")
	if !ok {
		t.Fatalf("%q is not a %s link", link, kind)
	}
	return tok
}

func subscribe(t *testing.T, f *fixture, email string) digest.Subscriber {
	t.Helper()
	if err := f.svc.Subscribe(context.Background(), subscription.SubscribeRequest{Email: email, IP: "192.0.2.7", UserAgent: "UA"}); err != nil {
		t.Fatal(err)
	}
	sub, err := f.store.SubscriberByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func deliver(t *testing.T, f *fixture) int {
	t.Helper()
	n, err := f.svc.DeliverQueued(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestQueuedConfirmationNotSentToLeavers: a confirmation queued for a
// pending reader who unsubscribes, bounces or is erased before it goes out
// is dropped; the reader who stays gets theirs. One DeliverQueued sends
// every mail waiting.
func TestQueuedConfirmationNotSentToLeavers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	stays := subscribe(t, f, "stays@example.com")
	left := subscribe(t, f, "left@example.com")
	bounced := subscribe(t, f, "bounced@example.com")
	subscribe(t, f, "erased@example.com")
	also := subscribe(t, f, "also@example.com")

	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.UnsubscribeURL(left.ID), "unsubscribe"), "link"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Bounce(ctx, bounced.ID, f.now); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Forget(ctx, "erased@example.com"); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, f); n != 5 {
		t.Errorf("DeliverQueued handled %d jobs, want all 5", n)
	}
	var to []string
	for _, m := range r.all() {
		to = append(to, m.ConfirmURL)
	}
	if len(to) != 2 {
		t.Fatalf("%d confirmation mails, want 2 (the two still pending): %q", len(to), to)
	}
	if n := len(f.mails(t)); n != 2 {
		t.Errorf("%d mails in the outbox, want 2", n)
	}
	// The two that went out confirm the two who stayed.
	for i, want := range []int64{stays.ID, also.ID} {
		outcome, err := f.svc.Confirm(ctx, token(t, r.all()[i].ConfirmURL, "confirm"), "192.0.2.8")
		if err != nil || outcome != subscription.Confirmed {
			t.Errorf("mail %d: %v %v", i, outcome, err)
		}
		if sub, _ := f.store.Subscriber(ctx, want); sub.Status != digest.Active {
			t.Errorf("subscriber %d is %s after confirming", want, sub.Status)
		}
	}
	if n := deliver(t, f); n != 0 {
		t.Errorf("%d jobs left in the outbox", n)
	}
}

// TestResubscribeAfterBounceOrComplaint: a bounced address that subscribes
// again goes back to pending with one confirmation mail queued (a fresh
// double opt-in proves the mailbox works again); a complained one gets
// nothing queued (its ConfirmSentAt stays unset).
func TestResubscribeAfterBounceOrComplaint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	for _, c := range []struct {
		status digest.SubscriberStatus
		want   digest.SubscriberStatus
		mailed bool
	}{{digest.Bounced, digest.Pending, true}, {digest.Complained, digest.Complained, false}} {
		email := string(c.status) + "@example.com"
		sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: digest.Active})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.UpdateSubscriber(ctx, sub.ID, func(s *digest.Subscriber) error { s.Status = c.status; return nil }); err != nil {
			t.Fatal(err)
		}
		after := subscribe(t, f, email)
		if after.Status != c.want || after.ConfirmSentAt.IsZero() == c.mailed {
			t.Errorf("%s subscribing again: %s, confirmation claimed at %v", c.status, after.Status, after.ConfirmSentAt)
		}
	}
	if n := deliver(t, f); n != 1 {
		t.Errorf("%d confirmation jobs queued, want 1 (the bounced address's, not the complained one's)", n)
	}
}

// TestConfirmationTellsActiveFromPending: the mail to a reader already
// subscribed says so (AlreadyActive); the one to a new reader asks to
// confirm. Both carry working links.
func TestConfirmationTellsActiveFromPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "active@example.com", Status: digest.Active}); err != nil {
		t.Fatal(err)
	}
	subscribe(t, f, "active@example.com")
	deliver(t, f)
	subscribe(t, f, "new@example.com")
	deliver(t, f)
	mails := r.all()
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2", len(mails))
	}
	if !mails[0].AlreadyActive || mails[1].AlreadyActive {
		t.Errorf("AlreadyActive: to the active reader %v, to the new one %v", mails[0].AlreadyActive, mails[1].AlreadyActive)
	}
	for _, m := range mails {
		if m.SiteTitle != "Gaps Daily" {
			t.Errorf("site title %q", m.SiteTitle)
		}
		if _, err := f.svc.SubscriberFor(ctx, subscription.PurposePreferences, token(t, m.PreferencesURL, "preferences")); err != nil {
			t.Errorf("preferences link %q: %v", m.PreferencesURL, err)
		}
	}
	outcome, err := f.svc.Confirm(ctx, token(t, mails[0].ConfirmURL, "confirm"), "")
	if err != nil || outcome != subscription.AlreadyConfirmed {
		t.Errorf("the active reader's link: %v %v", outcome, err)
	}
}

// TestConfirmRecordsConsent: confirming records when and from where; a
// second click changes nothing; a link for a reader who left confirms
// nothing.
func TestConfirmRecordsConsent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	sub := subscribe(t, f, "consent@example.com")
	deliver(t, f)
	subscribedAt := f.now
	f.now = f.now.Add(3 * time.Hour)
	tok := token(t, r.all()[0].ConfirmURL, "confirm")
	if outcome, err := f.svc.Confirm(ctx, tok, "198.51.100.4"); err != nil || outcome != subscription.Confirmed {
		t.Fatalf("%v %v", outcome, err)
	}
	got, _ := f.store.Subscriber(ctx, sub.ID)
	if got.Status != digest.Active || !got.Consent.ConfirmedAt.Equal(f.now) || got.Consent.ConfirmIP != "198.51.100.4" ||
		!got.Consent.SubscribedAt.Equal(subscribedAt) || got.Consent.IP != "192.0.2.7" || got.Consent.Source != "form" || got.Consent.Text != "v2" {
		t.Errorf("consent after confirming: %+v", got.Consent)
	}
	f.now = f.now.Add(time.Hour)
	if outcome, err := f.svc.Confirm(ctx, tok, "203.0.113.1"); err != nil || outcome != subscription.AlreadyConfirmed {
		t.Errorf("second click: %v %v", outcome, err)
	}
	again, _ := f.store.Subscriber(ctx, sub.ID)
	if !again.Consent.ConfirmedAt.Equal(got.Consent.ConfirmedAt) || again.Consent.ConfirmIP != "198.51.100.4" {
		t.Errorf("a second click rewrote the consent: %+v", again.Consent)
	}
	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.UnsubscribeURL(sub.ID), "unsubscribe"), "link"); err != nil {
		t.Fatal(err)
	}
	if outcome, err := f.svc.Confirm(ctx, tok, ""); err != nil || outcome != subscription.NotConfirmable {
		t.Errorf("a confirm link after leaving: %v %v", outcome, err)
	}
	if left, _ := f.store.Subscriber(ctx, sub.ID); left.Status != digest.Unsubscribed {
		t.Errorf("a confirm link after leaving made the reader %s", left.Status)
	}
	if err := f.svc.Forget(ctx, "consent@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Confirm(ctx, tok, ""); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("a confirm link of an erased reader: %v", err)
	}
}

// TestConfirmAndResendBoundaries: a confirmation link works for exactly
// 48 hours; another confirmation mail may go out exactly 24 hours after
// the last; an outbox job older than 48 hours is dropped.
func TestConfirmAndResendBoundaries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	start := f.now
	subscribe(t, f, "edge@example.com")
	deliver(t, f)
	tok := token(t, r.all()[0].ConfirmURL, "confirm")

	f.now = start.Add(24*time.Hour - time.Second)
	subscribe(t, f, "edge@example.com")
	if n := deliver(t, f); n != 0 {
		t.Errorf("a second mail was queued after 24h less a second")
	}
	f.now = start.Add(24 * time.Hour)
	subscribe(t, f, "edge@example.com")
	if n := deliver(t, f); n != 1 || len(r.all()) != 2 {
		t.Errorf("after exactly 24h: %d jobs, %d mails; want another", n, len(r.all()))
	}

	f.now = start.Add(48*time.Hour + time.Second)
	if _, err := f.svc.Confirm(ctx, tok, ""); !errors.Is(err, subscription.ErrExpired) {
		t.Errorf("48h and a second: %v, want ErrExpired", err)
	}
	f.now = start.Add(48 * time.Hour)
	if outcome, err := f.svc.Confirm(ctx, tok, ""); err != nil || outcome != subscription.Confirmed {
		t.Errorf("exactly 48h: %v %v, want confirmed", outcome, err)
	}

	// Jobs: one exactly 48h old is still sent, one older is dropped.
	subscribe(t, f, "late@example.com")
	subscribe(t, f, "later@example.com")
	f.now = f.now.Add(48 * time.Hour)
	before := len(r.all())
	if n := deliver(t, f); n != 2 || len(r.all()) != before+2 {
		t.Errorf("jobs exactly 48h old: %d handled, %d mailed; want both mailed", n, len(r.all())-before)
	}
	subscribe(t, f, "stale@example.com")
	f.now = f.now.Add(48*time.Hour + time.Millisecond)
	before = len(r.all())
	if n := deliver(t, f); n != 1 || len(r.all()) != before {
		t.Errorf("a job 48h and a millisecond old: %d handled, %d mailed; want dropped", n, len(r.all())-before)
	}
}

// TestResendConfirmationErrors: a link of an erased reader is
// ErrInvalidToken; a store that fails is an error, not silence.
func TestResendConfirmationErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	subscribe(t, f, "gone@example.com")
	deliver(t, f)
	tok := token(t, r.all()[0].ConfirmURL, "confirm")
	if err := f.svc.ResendConfirmation(ctx, "not-a-token"); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("a bad token: %v", err)
	}
	broken := serviceOn(f, downStore(), nil, r)
	if err := broken.ResendConfirmation(ctx, tok); err == nil || errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("Redis down: %v, want the store's error", err)
	}
	if err := f.svc.Forget(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ResendConfirmation(ctx, tok); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("an erased reader: %v, want ErrInvalidToken", err)
	}
}

// TestUnsubscribeByStatus: a pending or active reader leaves (with when and
// how); a bounced one stays bounced; leaving twice is no error.
func TestUnsubscribeByStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	pending := subscribe(t, f, "pending@example.com")
	active, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "active@example.com", Status: digest.Active})
	bounced, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "bounced@example.com", Status: digest.Active})
	if _, err := f.store.Bounce(ctx, bounced.ID, f.now); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	for _, c := range []struct {
		sub  digest.Subscriber
		want digest.SubscriberStatus
		how  string
	}{{pending, digest.Unsubscribed, "preferences"}, {active, digest.Unsubscribed, "one-click"}, {bounced, digest.Bounced, ""}} {
		tok := token(t, f.svc.PreferencesURL(c.sub.ID), "preferences")
		for range 2 {
			if _, err := f.svc.Unsubscribe(ctx, subscription.PurposePreferences, tok, c.how+"x"); err != nil {
				t.Fatalf("%s: %v", c.sub.Email, err)
			}
		}
		got, _ := f.store.Subscriber(ctx, c.sub.ID)
		if got.Status != c.want {
			t.Errorf("%s (%s) unsubscribing: %s, want %s", c.sub.Email, c.sub.Status, got.Status, c.want)
		}
		if c.want == digest.Unsubscribed && (got.Consent.LeftHow != c.how+"x" || !got.Consent.LeftAt.Equal(f.now)) {
			t.Errorf("%s: left %q at %v", c.sub.Email, got.Consent.LeftHow, got.Consent.LeftAt)
		}
	}
	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.PreferencesURL(active.ID), "preferences"), "link"); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("a preferences token used to unsubscribe one-click: %v", err)
	}
}

// TestLongValuesTruncatedAtRuneStart: a user agent or consent text of
// exactly 200 bytes is kept whole; a longer one is cut to 200 bytes or
// less, never inside a character.
func TestLongValuesTruncatedAtRuneStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	exact := strings.Repeat("u", 200)
	split := strings.Repeat("u", 199) + "é" + "tail" // é straddles byte 200
	for email, c := range map[string][2]string{
		"exact@example.com": {exact, exact},
		"split@example.com": {split, strings.Repeat("u", 199)},
		"short@example.com": {"Mozilla", "Mozilla"},
	} {
		if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: email, UserAgent: c[0]}); err != nil {
			t.Fatal(err)
		}
		got, _ := f.store.SubscriberByEmail(ctx, email)
		if got.Consent.UserAgent != c[1] {
			t.Errorf("user agent of %d bytes kept as %d bytes %q", len(c[0]), len(got.Consent.UserAgent), got.Consent.UserAgent)
		}
		sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "admin-" + email, Status: digest.Active, Consent: " " + c[0] + " "})
		if err != nil {
			t.Fatal(err)
		}
		if sub.Consent.Text != c[1] {
			t.Errorf("consent text of %d bytes kept as %q", len(c[0]), sub.Consent.Text)
		}
	}
}

// TestNameChecks: a name of exactly MaxNameLength characters is taken; one
// more, invalid UTF-8 or a control character is a FieldError on "name".
func TestNameChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	exact := strings.Repeat("é", subscription.MaxNameLength)
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "n@example.com", Name: " " + exact + " "}); err != nil {
		t.Errorf("a name of exactly %d characters: %v", subscription.MaxNameLength, err)
	}
	if got, _ := f.store.SubscriberByEmail(ctx, "n@example.com"); got.Name != exact {
		t.Errorf("name kept as %q", got.Name)
	}
	for _, bad := range []string{exact + "x", "bad\xffutf8", "tab\there", "del\x7f"} {
		var fe *subscription.FieldError
		err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "m@example.com", Name: bad})
		if !errors.As(err, &fe) || fe.Field != "name" {
			t.Errorf("name %q: %v, want a FieldError on name", bad, err)
		}
	}
	var fe *subscription.FieldError
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "nope"}); !errors.As(err, &fe) || fe.Field != "email" ||
		strings.Contains(fe.Message, digest.ErrBadEmail.Error()+":") {
		t.Errorf("bad email: %v", err)
	}
	if _, err := f.store.SubscriberByEmail(ctx, "m@example.com"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("a refused subscription was stored: %v", err)
	}
}

// TestComingBackKeepsName: an unsubscribed reader who subscribes again
// without a name keeps the one they had.
func TestComingBackKeepsName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	sub, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "kept@example.com", Name: "Kept Name", Status: digest.Active})
	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.UnsubscribeURL(sub.ID), "unsubscribe"), "link"); err != nil {
		t.Fatal(err)
	}
	back := subscribe(t, f, "kept@example.com")
	if back.Name != "Kept Name" || back.Status != digest.Pending || back.ConfirmSentAt.IsZero() {
		t.Errorf("back without a name: %+v", back)
	}
}

// TestAdminAdd: status checks, the consent it records, a pending add mails
// a confirmation, an existing address is returned unchanged.
func TestAdminAdd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	pending, created, err := f.svc.Add(ctx, subscription.AddRequest{Email: "P@Example.com", Name: "P"})
	if err != nil || created != subscription.AddCreated || pending.Status != digest.Pending || pending.ConfirmSentAt.IsZero() ||
		pending.Consent.Source != "admin" || !pending.Consent.ConfirmedAt.IsZero() || pending.Email != "p@example.com" {
		t.Errorf("pending add: %+v %v %v", pending, created, err)
	}
	if deliver(t, f); len(r.all()) != 1 {
		t.Errorf("a pending add sent %d mails, want 1", len(r.all()))
	}
	active, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "a@example.com", Status: digest.Active, Consent: "signed form"})
	if err != nil || !active.Consent.ConfirmedAt.Equal(f.now) || active.Consent.Text != "signed form" || !active.ConfirmSentAt.IsZero() {
		t.Errorf("active add: %+v %v", active, err)
	}
	again, created, err := f.svc.Add(ctx, subscription.AddRequest{Email: "a@example.com", Status: digest.Pending, Name: "Other"})
	if err != nil || created != subscription.AddExisting || again.Status != digest.Active || again.Name != "" {
		t.Errorf("adding a known address: %+v created=%v %v", again, created, err)
	}
	for _, bad := range []subscription.AddRequest{{Email: "b@example.com", Status: digest.Bounced}, {Email: "b@example.com", Status: "x"},
		{Email: "bad"}, {Email: "b@example.com", Name: "x\x00"}} {
		var fe *subscription.FieldError
		if _, _, err := f.svc.Add(ctx, bad); !errors.As(err, &fe) {
			t.Errorf("%+v: %v, want a FieldError", bad, err)
		}
	}
	for _, bad := range []string{"", "no-at"} {
		var fe *subscription.FieldError
		if _, err := f.svc.Get(ctx, bad); !errors.As(err, &fe) {
			t.Errorf("Get(%q): %v", bad, err)
		}
		if err := f.svc.Forget(ctx, bad); !errors.As(err, &fe) {
			t.Errorf("Forget(%q): %v", bad, err)
		}
	}
	if got, err := f.svc.Get(ctx, " A@example.com "); err != nil || got.ID != active.ID {
		t.Errorf("Get: %+v %v", got, err)
	}
	if _, _, err := f.svc.List(ctx, "nonsense", 0, 10); err == nil {
		t.Error("List with a bad status")
	}
	page, _, err := f.svc.List(ctx, digest.Active, 0, 10)
	if err != nil || len(page) != 1 || page[0].Consent.Text != "signed form" {
		t.Errorf("List active: %+v %v", page, err)
	}
	counts, err := f.svc.Counts(ctx)
	if err != nil || counts[digest.Active] != 1 || counts[digest.Pending] != 1 {
		t.Errorf("counts %v %v", counts, err)
	}
}

// TestSetFormat: a valid format is stored, setting it again is no change,
// anything else is a FieldError.
func TestSetFormat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	sub, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "fmt@example.com", Status: digest.Active})
	tok := token(t, f.svc.PreferencesURL(sub.ID), "preferences")
	for _, format := range []digest.MailFormat{digest.FormatText, digest.FormatText, digest.FormatHTML} {
		got, err := f.svc.SetFormat(ctx, tok, format)
		if err != nil || got.Format != format {
			t.Errorf("SetFormat(%s): %+v %v", format, got, err)
		}
	}
	var fe *subscription.FieldError
	if _, err := f.svc.SetFormat(ctx, tok, "pdf"); !errors.As(err, &fe) || fe.Field != "format" {
		t.Errorf("SetFormat(pdf): %v", err)
	}
	if _, err := f.svc.SetFormat(ctx, "forged", digest.FormatText); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("forged token: %v", err)
	}
}

// TestOutboxJobsThatCannotBeSent: an unreadable job is dropped; one whose
// mail cannot be rendered stays queued and goes out once it can.
func TestOutboxJobsThatCannotBeSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	if err := f.store.EnqueueMail(ctx, "garbage"); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, f); n != 1 {
		t.Errorf("unreadable job: %d handled", n)
	}
	f.now = f.now.Add(2 * time.Minute)
	if n := deliver(t, f); n != 0 {
		t.Errorf("the unreadable job came back (%d)", n)
	}
	r.fail = errors.New("template broken")
	subscribe(t, f, "render@example.com")
	deliver(t, f)
	r.fail = nil
	f.now = f.now.Add(2 * time.Minute)
	if deliver(t, f); len(r.all()) != 1 {
		t.Errorf("after the renderer recovered: %d mails, want 1", len(r.all()))
	}
}

// TestRunOutbox delivers what is queued while it runs, and returns when
// its context ends.
func TestRunOutbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.svc.RunOutbox(ctx, 5*time.Millisecond); close(done) }()
	subscribe(t, f, "run@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for len(r.all()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(r.all()) != 1 {
		t.Errorf("RunOutbox sent %d mails, want 1", len(r.all()))
	}
}

// TestImportReportAndColumns: the email column may be first, a short row
// leaves the missing cells empty, InvalidCount counts every bad line while
// Invalid lists the first 1,000; batches of 1,000 are all stored.
func TestImportReportAndColumns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	rep, err := f.svc.Import(ctx, strings.NewReader("email,name,status\nfirst@example.com\nsecond@example.com,Second,pending\n"), "v1")
	if err != nil || rep.Added != 2 || rep.InvalidCount != 0 {
		t.Fatalf("email first: %+v %v", rep, err)
	}
	first, _ := f.store.SubscriberByEmail(ctx, "first@example.com")
	second, _ := f.store.SubscriberByEmail(ctx, "second@example.com")
	if first.Status != digest.Active || first.Name != "" || !first.Consent.ConfirmedAt.Equal(f.now) || first.Consent.Text != "v1" {
		t.Errorf("short row: %+v", first)
	}
	if second.Status != digest.Pending || second.Name != "Second" || !second.Consent.ConfirmedAt.IsZero() {
		t.Errorf("pending row: %+v", second)
	}
	var fe *subscription.FieldError
	if _, err := f.svc.Import(ctx, strings.NewReader("name,mail\nx,y@example.com\n"), "v1"); !errors.As(err, &fe) {
		t.Errorf("no email column: %v", err)
	}

	var b strings.Builder
	b.WriteString("name,email\n")
	const bad, good = 1005, 2001
	for i := range bad {
		fmt.Fprintf(&b, "Bad %d,bad%d@localhost\n", i, i)
	}
	for i := range good {
		fmt.Fprintf(&b, "Good %d,good%d@example.com\n", i, i)
	}
	rep, err = f.svc.Import(ctx, strings.NewReader(b.String()), "v1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.InvalidCount != bad || len(rep.Invalid) != 1000 || rep.Invalid[0].Line != 2 || rep.Invalid[999].Line != 1001 || rep.Added != good {
		t.Errorf("report: added %d, invalid %d listed %d (first line %d)", rep.Added, rep.InvalidCount, len(rep.Invalid), rep.Invalid[0].Line)
	}
	if _, err := f.store.SubscriberByEmail(ctx, fmt.Sprintf("good%d@example.com", good-1)); err != nil {
		t.Errorf("the last of the last batch: %v", err)
	}
	if _, err := f.store.SubscriberByEmail(ctx, "good999@example.com"); err != nil {
		t.Errorf("the last of the first batch: %v", err)
	}

	// Export streams every subscriber, past its 1,000-a-page batches.
	var out strings.Builder
	if err := f.svc.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+2+good {
		t.Errorf("export: %d rows, want a header and %d subscribers", len(rows), 2+good)
	}
	if strings.Join(rows[0], ",") != "email,name,status,format,subscribed_at,confirmed_at" {
		t.Errorf("header %q", rows[0])
	}
	for _, row := range rows[1:] {
		if row[0] == "second@example.com" && (row[2] != "pending" || row[4] == "" || row[5] != "") {
			t.Errorf("pending row %q", row)
		}
		if row[0] == "first@example.com" && (row[2] != "active" || row[3] != "html" || row[5] != f.now.Format(time.RFC3339)) {
			t.Errorf("active row %q", row)
		}
	}
}

// TestExportDefusesEveryFormulaStart: each character a spreadsheet starts
// a formula with is defused, in any column; other cells are left alone.
func TestExportDefusesEveryFormulaStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	for i, name := range []string{"=1+1", "+1", "-1", "@SUM(A1)", "Plain", "a=b"} {
		if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: fmt.Sprintf("f%d@example.com", i), Name: name, Status: digest.Active}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "=x@example.com", Status: digest.Active}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := f.svc.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = r[1]
	}
	for email, want := range map[string]string{"f0@example.com": "'=1+1", "f1@example.com": "'+1", "f2@example.com": "'-1",
		"f3@example.com": "'@SUM(A1)", "f4@example.com": "Plain", "f5@example.com": "a=b", "'=x@example.com": ""} {
		if g, ok := got[email]; !ok || g != want {
			t.Errorf("%s: name cell %q (present %v), want %q", email, g, ok, want)
		}
	}
}
