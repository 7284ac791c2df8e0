package subscription_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/internal/smtptest"
	"github.com/broadsheet-news/broadsheet/mailer"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// TestConfigDefaultsAndOverrides: without settings a confirmation link
// lasts 48 hours, another mail may go after 24 and the mail says "once a
// day"; a Config's own values replace each of them.
func TestConfigDefaultsAndOverrides(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	ctx := context.Background()
	subscribe(t, f, "default@example.com")
	deliver(t, f)
	if m := r.all(); len(m) != 1 || m[0].Frequency != "once a day" {
		t.Fatalf("default frequency: %+v", m)
	}

	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	custom := &rendered{}
	f.svc = subscription.New(f.store, nopSender{}, signer, subscription.Config{Title: "T", BaseURL: base, Frequency: "every Monday",
		ConfirmTTL: time.Hour, ResendAfter: 2 * time.Hour, RenderConfirmation: custom.render},
		func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	start := f.now
	sub := subscribe(t, f, "custom@example.com")
	deliver(t, f)
	if m := custom.all(); len(m) != 1 || m[0].Frequency != "every Monday" {
		t.Fatalf("custom frequency: %+v", m)
	}
	tok := signer.Sign(subscription.PurposeConfirm, sub.ID, start)
	f.now = start.Add(time.Hour + time.Second)
	if _, err := f.svc.Confirm(ctx, tok, ""); !errors.Is(err, subscription.ErrExpired) {
		t.Errorf("a link an hour and a second old with ConfirmTTL 1h: %v, want ErrExpired", err)
	}
	f.now = start.Add(2*time.Hour - time.Second)
	subscribe(t, f, "custom@example.com")
	if n := deliver(t, f); n != 0 {
		t.Errorf("another mail within ResendAfter (2h): %d jobs", n)
	}
	f.now = start.Add(2 * time.Hour)
	subscribe(t, f, "custom@example.com")
	if n := deliver(t, f); n != 1 {
		t.Errorf("another mail after ResendAfter (2h): %d jobs, want 1", n)
	}
	if outcome, err := f.svc.Confirm(ctx, signer.Sign(subscription.PurposeConfirm, sub.ID, f.now.Add(-time.Hour)), ""); err != nil || outcome != subscription.Confirmed {
		t.Errorf("a link exactly an hour old: %v %v", outcome, err)
	}
}

// nopSender accepts every mail.
type nopSender struct{}

func (nopSender) Send(context.Context, mailer.Message) error { return nil }

// TestSubscriberFor: the unsubscribe and preferences pages find the
// subscriber their link names; a link of another purpose or of an erased
// subscriber is ErrInvalidToken; with Redis away, a genuine link gives the
// subscriber's ID and ErrUnavailable when a spool can keep the page's
// actions, and a plain error when none can.
func TestSubscriberFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub, _, _ := f.svc.Add(ctx, subscription.AddRequest{Email: "page@example.com", Name: "Page", Status: digest.Active})
	tok := s.tok(subscription.PurposePreferences, sub.ID, f.now)
	got, err := s.up.SubscriberFor(ctx, subscription.PurposePreferences, tok)
	if err != nil || got.ID != sub.ID || got.Email != "page@example.com" || got.Name != "Page" {
		t.Errorf("a preferences link: %+v %v", got, err)
	}
	if _, err := s.up.SubscriberFor(ctx, subscription.PurposeUnsubscribe, tok); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("a preferences link on the unsubscribe page: %v", err)
	}

	got, err = s.down.SubscriberFor(ctx, subscription.PurposePreferences, tok)
	if !errors.Is(err, subscription.ErrUnavailable) || got.ID != sub.ID || got.Email != "" {
		t.Errorf("Redis away, with a spool: %+v %v; want the ID alone and ErrUnavailable", got, err)
	}
	if _, err := s.down.SubscriberFor(ctx, subscription.PurposePreferences, "forged"); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("Redis away, a forged link: %v", err)
	}
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	noSpool := subscription.New(downStore(), nil, signer, subscription.Config{Title: "T", BaseURL: base},
		func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	got, err = noSpool.SubscriberFor(ctx, subscription.PurposePreferences, tok)
	if err == nil || errors.Is(err, subscription.ErrUnavailable) || errors.Is(err, subscription.ErrInvalidToken) || got.ID != 0 {
		t.Errorf("Redis away, no spool: %+v %v; want nothing and the store's error", got, err)
	}

	if err := f.svc.Forget(ctx, "page@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.up.SubscriberFor(ctx, subscription.PurposePreferences, tok); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("the link of an erased subscriber: %v", err)
	}
}

// TestAdminReactivationName: an admin reactivating an address without a
// name keeps the name it had; with one, the new name replaces it.
func TestAdminReactivationName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	for _, c := range []struct{ name, want string }{{"", "Old Name"}, {"New Name", "New Name"}} {
		email := fmt.Sprintf("re%d@example.com", len(c.name))
		sub, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Name: "Old Name", Status: digest.Active})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Unsubscribe(ctx, subscription.PurposeUnsubscribe, token(t, f.svc.UnsubscribeURL(sub.ID), "unsubscribe"), "link"); err != nil {
			t.Fatal(err)
		}
		got, res, err := f.svc.Add(ctx, subscription.AddRequest{Email: email, Name: c.name, Status: digest.Active})
		if err != nil || res != subscription.AddReactivated || got.Name != c.want {
			t.Errorf("reactivated with name %q: %v %q %v, want name %q", c.name, res, got.Name, err, c.want)
		}
		if stored, _ := f.store.Subscriber(ctx, sub.ID); stored.Name != c.want || stored.Status != digest.Active {
			t.Errorf("stored after reactivation with name %q: %q %s", c.name, stored.Name, stored.Status)
		}
	}
	if s := subscription.AddCreated.String() + "," + subscription.AddExisting.String(); s != "added,already there" {
		t.Errorf("AddResult strings %q", s)
	}
}

// TestListByStatus: no status lists everyone, a status only those; a
// status that does not exist is a field error naming status.
func TestListByStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "a@example.com", Status: digest.Active, Consent: "form"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Add(ctx, subscription.AddRequest{Email: "p@example.com"}); err != nil {
		t.Fatal(err)
	}
	all, next, err := f.svc.List(ctx, "", 0, 10)
	if err != nil || len(all) != 2 || next != 0 {
		t.Errorf("List all: %d subscribers, next %d, %v", len(all), next, err)
	}
	pending, _, err := f.svc.List(ctx, digest.Pending, 0, 10)
	if err != nil || len(pending) != 1 || pending[0].Email != "p@example.com" || pending[0].Consent.Source != "admin" {
		t.Errorf("List pending: %+v %v", pending, err)
	}
	var fe *subscription.FieldError
	if _, _, err := f.svc.List(ctx, "nonsense", 0, 10); !errors.As(err, &fe) || fe.Field != "status" {
		t.Errorf("List(nonsense): %v, want a field error on status", err)
	}
}

// importCalls counts the store's import round trips.
type importCalls struct {
	subscription.Store
	sizes []int
}

func (c *importCalls) ImportSubscribers(ctx context.Context, subs []digest.Subscriber) ([]digest.AddOutcome, error) {
	c.sizes = append(c.sizes, len(subs))
	return c.Store.ImportSubscribers(ctx, subs)
}

// TestImportInBatches: an import goes to Redis a thousand subscribers at a
// time, whatever the file's length, the rest in one last batch.
func TestImportInBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := recording(t, f)
	counted := &importCalls{Store: f.store}
	svc := serviceOn(f, counted, nopSender{}, r)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "b%d@example.com\n", i)
	}
	rep, err := svc.Import(context.Background(), strings.NewReader(b.String()), "v1")
	if err != nil || rep.Added != 2500 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	if fmt.Sprint(counted.sizes) != "[1000 1000 500]" {
		t.Errorf("batches %v, want [1000 1000 500]", counted.sizes)
	}
}

// failingReader gives data, then err.
type failingReader struct {
	data io.Reader
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.data.Read(p)
	if errors.Is(err, io.EOF) {
		return n, r.err
	}
	return n, err
}

// TestImportReadError: a body that fails midway (cut, or too large) makes
// the import an error, not a short success.
func TestImportReadError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	cut := errors.New("body cut")
	_, err := f.svc.Import(context.Background(), &failingReader{strings.NewReader("email\na@example.com\nb@exa"), cut}, "v1")
	if !errors.Is(err, cut) {
		t.Errorf("a body cut midway: %v, want its error", err)
	}
}

// TestImportLineNumbersAfterAnOverlongRecord: a record over 16 KiB that
// spans many lines is reported at its first line, and the lines after it
// keep their numbers.
func TestImportLineNumbersAfterAnOverlongRecord(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	var b strings.Builder
	b.WriteString("name,email\n")        // line 1
	b.WriteString("Ok,ok@example.com\n") // line 2
	b.WriteString("\"")                  // line 3: a quoted cell of 20 lines, 18 KB
	for range 20 {
		b.WriteString(strings.Repeat("x", 900) + "\n")
	}
	b.WriteString("\",long@example.com\n")                            // line 23 ends it
	b.WriteString("Bad,bad@localhost\n")                              // line 24
	b.WriteString(strings.Repeat("y", 17<<10) + ",one@example.com\n") // line 25: one line over 16 KiB
	b.WriteString("Worse,worse@localhost\n")                          // line 26
	b.WriteString("Last,last@example.com")                            // line 27, no line break
	rep, err := f.svc.Import(context.Background(), strings.NewReader(b.String()), "v1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range rep.Invalid {
		got = append(got, fmt.Sprintf("%d %s", l.Line, strings.SplitN(l.Reason, ":", 2)[0]))
	}
	want := "3 the line is longer than 16 KiB|24 email|25 the line is longer than 16 KiB|26 email"
	if strings.Join(got, "|") != want || rep.Added != 2 {
		t.Errorf("invalid lines %q, added %d; want %q and 2 added", got, rep.Added, want)
	}
	if _, err := f.store.SubscriberByEmail(context.Background(), "last@example.com"); err != nil {
		t.Errorf("the last line, without a line break: %v", err)
	}
}

// TestImportOnlyNamedColumns: columns are read by their header's names
// only — without a name column, no other column becomes the name, and a
// column with another header is ignored.
func TestImportOnlyNamedColumns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	rep, err := f.svc.Import(ctx, strings.NewReader("email,phone,status\nnoname@example.com,555-0100,pending\n"), "v1")
	if err != nil || rep.Added != 1 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	got, err := f.store.SubscriberByEmail(ctx, "noname@example.com")
	if err != nil || got.Name != "" || got.Status != digest.Pending {
		t.Errorf("imported without a name column: name %q, %s (%v); want no name, pending", got.Name, got.Status, err)
	}
}

// TestImportLongCellInFirstColumn: a cell over the limit is reported by
// its column, the first one included.
func TestImportLongCellInFirstColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	in := "email,name,status\n" + strings.Repeat("e", subscription.MaxCell+1) + "@example.com,X,\n" +
		"ok@example.com,Ok," + strings.Repeat(" ", subscription.MaxCell-len("active")) + "active\n"
	rep, err := f.svc.Import(context.Background(), strings.NewReader(in), "v1")
	if err != nil || rep.InvalidCount != 1 || rep.Invalid[0].Reason != "cell 1 is longer than 1024 bytes" || rep.Invalid[0].Line != 2 {
		t.Errorf("report %+v %v, want line 2's cell 1 too long", rep, err)
	}
	if rep.Added != 1 {
		t.Errorf("a cell of exactly %d bytes: %d added, want 1", subscription.MaxCell, rep.Added)
	}
}

// TestOneCharacterFormulaNamesRoundTrip: a name that is a single formula
// character, or a single quote, comes back from export and import as it
// was.
func TestOneCharacterFormulaNamesRoundTrip(t *testing.T) {
	t.Parallel()
	src := newFixture(t)
	recording(t, src)
	ctx := context.Background()
	names := []string{"=", "'", "-", "x"}
	for i, n := range names {
		if _, _, err := src.svc.Add(ctx, subscription.AddRequest{Email: fmt.Sprintf("n%d@example.com", i), Name: n, Status: digest.Active}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := src.svc.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	dst := newFixture(t)
	recording(t, dst)
	if rep, err := dst.svc.Import(ctx, &out, "v1"); err != nil || rep.Added != len(names) {
		t.Fatalf("import: %+v %v", rep, err)
	}
	for i, n := range names {
		if got, _ := dst.store.SubscriberByEmail(ctx, fmt.Sprintf("n%d@example.com", i)); got.Name != n {
			t.Errorf("name %q came back as %q", n, got.Name)
		}
	}
}

// TestUserAgentOfContinuationBytes: a user agent that is not UTF-8 at all
// (every byte a continuation byte) is cut to nothing rather than mid-rune,
// and does not break the subscription.
func TestUserAgentOfContinuationBytes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	if err := f.svc.Subscribe(ctx, subscription.SubscribeRequest{Email: "ua@example.com", UserAgent: strings.Repeat("\x80", 201)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.SubscriberByEmail(ctx, "ua@example.com"); got.Consent.UserAgent != "" {
		t.Errorf("user agent kept as %q", got.Consent.UserAgent)
	}
}

// TestBackgroundLoopsLogFailures: the outbox and the active counter log
// each failure while they run, and nothing when all goes well or once
// their context has ended.
func TestBackgroundLoopsLogFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	r := &rendered{}
	// run runs both loops on st until done says so (or 10 s), and returns
	// what they logged, and whether done said so before they were stopped
	// (a failure logged only as they stop is not logged while they run).
	run := func(st subscription.Store, done func(logs string) bool) (string, bool) {
		var logs syncBuffer
		svc := subscription.New(st, nopSender{}, signer, subscription.Config{Title: "T", BaseURL: base, RenderConfirmation: r.render},
			func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		ended := make(chan struct{}, 2)
		go func() { svc.RunOutbox(ctx, time.Millisecond); ended <- struct{}{} }()
		go func() {
			svc.RunActiveCounter(ctx, time.Millisecond, func() string { return "2026-11-27" })
			ended <- struct{}{}
		}()
		for deadline := time.Now().Add(10 * time.Second); !done(logs.String()) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond) // a few more rounds
		running := done(logs.String())
		cancel()
		<-ended
		<-ended
		return logs.String(), running
	}
	const outbox, counter = "Unable to deliver queued mail", "Unable to record the daily subscriber count"
	logs, running := run(downStore(), func(logs string) bool { return strings.Contains(logs, outbox) && strings.Contains(logs, counter) })
	if !running {
		t.Errorf("Redis away: logged %q while running, want both failures", logs)
	}
	recorded := func(string) bool {
		h, err := f.svc.ActiveHistory(context.Background(), "2026-11-27", 1)
		return err == nil && h[0].Known
	}
	if logs, _ := run(f.store, recorded); strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") || !recorded("") {
		t.Errorf("all well: logged %q", logs)
	}
}

// syncBuffer is a bytes.Buffer safe for the loops' goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBouncedConfirmationMarksTheSubscriber: a confirmation mail refused
// with 5.1.1 marks the address bounced, quietly; it is not tried again.
func TestBouncedConfirmationMarksTheSubscriber(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mail := smtptest.Start(t)
	f := newFixture(t)
	var logs bytes.Buffer
	smtp, err := mailer.NewSMTP(mail.URL(), mailer.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	composer, _ := mailer.NewComposer("Test <news@example.com>", func() time.Time { return f.now })
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	r := &rendered{}
	f.svc = subscription.New(f.store, mailer.New(composer, smtp, nil, slog.New(slog.DiscardHandler)), signer,
		subscription.Config{Title: "T", BaseURL: base, RenderConfirmation: r.render},
		func() time.Time { return f.now }, slog.New(slog.NewTextHandler(&logs, nil)))
	var tries atomic.Int64
	mail.RefuseRecipients(func(string) error {
		tries.Add(1)
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	})
	sub := subscribe(t, f, "nobody@example.com")
	for range 3 {
		deliver(t, f)
		f.now = f.now.Add(time.Hour)
	}
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Status != digest.Bounced || got.Consent.LeftHow != "bounce" {
		t.Errorf("after a 550 5.1.1: %s, left %q", got.Status, got.Consent.LeftHow)
	}
	if n := tries.Load(); n != 1 {
		t.Errorf("tried %d times, want once", n)
	}
	if !strings.Contains(logs.String(), "Confirmation mail bounced") || strings.Contains(logs.String(), "Unable to mark") {
		t.Errorf("log: %q", logs.String())
	}
}
