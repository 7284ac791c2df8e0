package subscription_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/redistest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/store"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// fixture is a Service on real Redis, mailing into a real Maildir, with a
// clock the test moves.
type fixture struct {
	svc    *subscription.Service
	store  *store.Store
	outbox string
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	st := store.New(rdb, store.Options{Prefix: prefix})
	f := &fixture{store: st, outbox: filepath.Join(t.TempDir(), "outbox"), now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	md, err := mailer.NewMaildir(f.outbox)
	if err != nil {
		t.Fatal(err)
	}
	composer, err := mailer.NewComposer("Test <news@example.com>", func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	f.svc = f.withSender(t, mailer.New(composer, md, nil, slog.New(slog.DiscardHandler)))
	return f
}

// withSender returns a Service of the fixture mailing through sender.
func (f *fixture) withSender(t *testing.T, sender subscription.Sender) *subscription.Service {
	t.Helper()
	signer, _ := subscription.NewSigner([]string{"service-test-secret-0123"})
	base, _ := url.Parse("https://news.example.com/")
	return subscription.New(f.store, sender, signer, subscription.Config{
		Title: "Test", BaseURL: base, ConsentText: "v1",
		RenderConfirmation: func(m subscription.ConfirmationMail) (string, string, string, error) {
			return "Confirm", "Confirm: " + m.ConfirmURL + "\nManage: " + m.PreferencesURL + "\n", "", nil
		},
	}, func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
}

// withSMTP returns a service that mails through the real SMTP server mail.
func (f *fixture) withSMTP(t *testing.T, mail *smtptest.Server) *subscription.Service {
	t.Helper()
	smtp, err := mailer.NewSMTP(mail.URL(), mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	composer, _ := mailer.NewComposer("Test <news@example.com>", func() time.Time { return f.now })
	return f.withSender(t, mailer.New(composer, smtp, nil, slog.New(slog.DiscardHandler)))
}

func (f *fixture) mails(t *testing.T) []string {
	t.Helper()
	if _, err := f.svc.DeliverQueued(context.Background()); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(f.outbox, "new"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(f.outbox, "new", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestResendAfterADay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	req := subscription.SubscribeRequest{Email: "ann@example.com", IP: "192.0.2.1"}
	for range 3 {
		if err := f.svc.Subscribe(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.mails(t)); n != 1 {
		t.Fatalf("%d mails after 3 subscribes in a minute, want 1", n)
	}
	f.now = f.now.Add(25 * time.Hour)
	if err := f.svc.Subscribe(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mails(t)); n != 2 {
		t.Errorf("%d mails after a day, want 2", n)
	}
}

func TestUnsubscribedComesBackPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "bob@example.com", Status: digest.Active, Consent: "paper form"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.mails(t)) != 0 {
		t.Fatal("adding an active subscriber mailed them")
	}
	tok := strings.TrimPrefix(f.svc.UnsubscribeURL(sub.ID), "https://news.example.com/unsubscribe/")
	if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, tok, "one-click"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "bob@example.com", Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	back, _ := f.store.SubscriberByEmail(ctx, "bob@example.com")
	if back.Status != digest.Pending || back.Name != "Bob" || back.Consent.Source != "form" || !back.Consent.LeftAt.IsZero() {
		t.Errorf("back again: %+v", back)
	}
	if len(f.mails(t)) != 1 {
		t.Errorf("no confirmation mail on coming back")
	}
}

// confirmToken returns the token of the confirmation link in mail.
func confirmToken(t *testing.T, mail string) string {
	t.Helper()
	i := strings.Index(mail, "/confirm/")
	if i < 0 {
		t.Fatalf("no confirmation link in %q", mail)
	}
	return strings.Fields(mail[i+len("/confirm/"):])[0]
}

// TestBouncedComesBackThroughDoubleOptIn: a bounced address subscribing
// again gets the confirmation mail (a fresh double opt-in proves the
// mailbox), and confirming makes it active.
func TestBouncedComesBackThroughDoubleOptIn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sub, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "gone@example.com", Status: digest.Active})
	if ok, err := f.store.Bounce(ctx, sub.ID, f.now); !ok || err != nil {
		t.Fatalf("bounce: %v %v", ok, err)
	}
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "gone@example.com"}); err != nil {
		t.Fatal(err)
	}
	back, _ := f.store.SubscriberByEmail(ctx, "gone@example.com")
	if back.Status != digest.Pending || back.Consent.Source != "form" || back.Consent.LeftHow != "" {
		t.Fatalf("a bounced address subscribing again: %+v", back)
	}
	mails := f.mails(t)
	if len(mails) != 1 {
		t.Fatalf("%d mails, want the confirmation", len(mails))
	}
	if out, err := f.svc.Confirm(ctx, confirmToken(t, mails[0]), "192.0.2.7"); err != nil || out != subscription.Confirmed {
		t.Fatalf("confirm: %v %v", out, err)
	}
	if back, _ = f.store.SubscriberByEmail(ctx, "gone@example.com"); back.Status != digest.Active {
		t.Errorf("confirmed: %s, want active", back.Status)
	}
	counts, _ := f.store.CountSubscribers(ctx)
	if counts[digest.Active] != 1 || counts[digest.Bounced] != 0 {
		t.Errorf("counts: %v", counts)
	}
}

// TestAdminAddReactivates: an admin adding an unsubscribed or bounced
// address as active makes it active and says so; as pending, or a
// complained address, changes nothing.
func TestAdminAddReactivates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, left := range []digest.SubscriberStatus{digest.Unsubscribed, digest.Bounced, digest.Complained} {
		email := string(left) + "@example.com"
		sub, res, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: digest.Active})
		if err != nil || res != subscription.AddCreated {
			t.Fatalf("add: %v %v", res, err)
		}
		_, _ = f.store.UpdateSubscriber(ctx, sub.ID, func(s *digest.Subscriber) error { s.Status = left; return nil })
		if _, res, _ := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: digest.Pending}); res != subscription.AddExisting {
			t.Errorf("%s added as pending: %v", left, res)
		}
		got, res, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Status: digest.Active, Consent: "asked by phone"})
		if err != nil {
			t.Fatal(err)
		}
		want, wantStatus := subscription.AddReactivated, digest.Active
		if left == digest.Complained {
			want, wantStatus = subscription.AddExisting, digest.Complained
		}
		if res != want || got.Status != wantStatus {
			t.Errorf("%s added as active: %v, %s; want %v, %s", left, res, got.Status, want, wantStatus)
		}
		if res == subscription.AddReactivated && (res.String() != "reactivated" || got.Consent.Text != "asked by phone" || got.Consent.ConfirmedAt.IsZero()) {
			t.Errorf("reactivated %s: %q, consent %+v", left, res, got.Consent)
		}
	}
}

func TestConfirmExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "cy@example.com"}); err != nil {
		t.Fatal(err)
	}
	mail := f.mails(t)[0]
	i := strings.Index(mail, "/confirm/")
	tok := strings.Fields(mail[i+len("/confirm/"):])[0]
	f.now = f.now.Add(49 * time.Hour)
	if _, err := f.svc.Confirm(ctx, tok, "192.0.2.9"); !errors.Is(err, subscription.ErrExpired) {
		t.Fatalf("a 49-hour-old link: %v, want ErrExpired", err)
	}
	// A fresh link (the day has passed, so one may go out) confirms.
	if err := f.svc.ResendConfirmation(ctx, tok); err != nil {
		t.Fatal(err)
	}
	mails := f.mails(t)
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2", len(mails))
	}
	var fresh string
	for _, m := range mails {
		if j := strings.Index(m, "/confirm/"); j >= 0 && !strings.Contains(m, tok) {
			fresh = strings.Fields(m[j+len("/confirm/"):])[0]
		}
	}
	if outcome, err := f.svc.Confirm(ctx, fresh, "192.0.2.9"); err != nil || outcome != subscription.Confirmed {
		t.Errorf("the new link: %v %v", outcome, err)
	}
}

func TestImportCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	in := "\uFEFFName,EMAIL,Status\n" +
		"\"Smith, Jo\",jo@example.com,\n" +
		"Dup,JO@example.com,active\n" +
		"Bad,jo@localhost,\n" +
		"O\"Brien,ob@example.com,\n" +
		"After,after@example.com,\n" +
		"\"broken,quote@example.com\n"
	rep, err := f.svc.Import(ctx, strings.NewReader(in), "test")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 2 || rep.Existing != 1 || len(rep.Invalid) != 3 || rep.Invalid[0].Line != 4 || rep.Invalid[1].Line != 5 || rep.Invalid[2].Line != 7 {
		t.Errorf("report: %+v", rep)
	}
	jo, err := f.store.SubscriberByEmail(ctx, "jo@example.com")
	if err != nil || jo.Name != "Smith, Jo" || jo.Status != digest.Active || jo.Consent.Source != "import" {
		t.Errorf("imported: %+v %v", jo, err)
	}
	for _, bad := range []string{"", "name\nx\n", "\"unterminated"} {
		var fe *subscription.FieldError
		if _, err := f.svc.Import(ctx, strings.NewReader(bad), "test"); !errors.As(err, &fe) {
			t.Errorf("Import(%q): %v, want a FieldError", bad, err)
		}
	}
}

func TestExportDefusesFormulas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "x@example.com", Name: "=HYPERLINK(\"http://evil\")", Status: digest.Active}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := f.svc.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "'=HYPERLINK") {
		t.Errorf("a formula in a name was exported as is:\n%s", out.String())
	}
}

// TestConfirmationSurvivesAMailOutage: the request does not wait for the
// mail server; a temporary refusal leaves the mail queued, sent once the
// lease ends; a permanent one marks the address bounced.
func TestConfirmationSurvivesAMailOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mail := smtptest.Start(t)
	f := newFixture(t)
	f.svc = f.withSMTP(t, mail)

	mail.RefuseRecipients(func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	})
	for _, email := range []string{"later@example.com", "gone@example.com"} {
		if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: email}); err != nil {
			t.Fatalf("subscribe while the mail server refuses: %v", err)
		}
	}
	if _, err := f.svc.DeliverQueued(ctx); err != nil {
		t.Fatal(err)
	}
	if gone, _ := f.store.SubscriberByEmail(ctx, "gone@example.com"); gone.Status != digest.Bounced {
		t.Errorf("a 550 5.1.1 left the subscriber %s", gone.Status)
	}
	mail.RefuseRecipients(nil)
	if _, _ = f.svc.DeliverQueued(ctx); len(mail.Messages()) != 0 {
		t.Fatal("a refused mail was tried again before its lease ended")
	}
	f.now = f.now.Add(2 * time.Minute)
	if _, err := f.svc.DeliverQueued(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "<later@example.com>" && msgs[0].To[0] != "later@example.com" {
		t.Fatalf("after the lease: %d messages %+v", len(msgs), msgs)
	}
}

// TestConfirmationPermanentRefusalGivesUp: a 5.7.1 refusal of the
// recipient is given up at once — not retried, not a bounce: the reader
// stays pending and may subscribe again.
func TestConfirmationPermanentRefusalGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mail := smtptest.Start(t)
	f := newFixture(t)
	f.svc = f.withSMTP(t, mail)
	var tries atomic.Int64
	mail.RefuseRecipients(func(string) error {
		tries.Add(1)
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "refused by policy"}
	})
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "policy@example.com"}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := f.svc.DeliverQueued(ctx); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Hour)
	}
	if n := tries.Load(); n != 1 {
		t.Errorf("a 554 5.7.1 was tried %d times, want once", n)
	}
	if p, _ := f.store.SubscriberByEmail(ctx, "policy@example.com"); p.Status != digest.Pending {
		t.Errorf("a 554 5.7.1 made the subscriber %s", p.Status)
	}
}

// TestConfirmationBacksOff: a mail the server keeps refusing for now is
// tried again later each time — not every minute for two days — and given
// up when its link would have expired.
func TestConfirmationBacksOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mail := smtptest.Start(t)
	f := newFixture(t)
	f.svc = f.withSMTP(t, mail)
	var tries []time.Time
	mail.RefuseRecipients(func(string) error {
		tries = append(tries, f.now)
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	})
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "later@example.com"}); err != nil {
		t.Fatal(err)
	}
	start := f.now
	for f.now.Sub(start) < 50*time.Hour {
		if _, err := f.svc.DeliverQueued(ctx); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Minute)
	}
	if len(tries) < 10 || len(tries) > 25 {
		t.Fatalf("%d tries in 50 hours, want 10 to 25: %v", len(tries), tries)
	}
	for i := 2; i < len(tries); i++ {
		if gap, prev := tries[i].Sub(tries[i-1]), tries[i-1].Sub(tries[i-2]); gap < prev && gap < 6*time.Hour {
			t.Errorf("try %d came %v after the one before, sooner than the gap before it (%v)", i, gap, prev)
		}
	}
	if last := tries[len(tries)-1]; last.Sub(start) > 48*time.Hour {
		t.Errorf("tried %v after queueing, after the link expired", last.Sub(start))
	}
	if last := tries[len(tries)-1]; last.Sub(start) < 36*time.Hour {
		t.Errorf("last tried %v after queueing: gave up too soon", last.Sub(start))
	}
}
