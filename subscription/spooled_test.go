package subscription_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/spool"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// spooling is a reader-action spool and two Services sharing it, with
// fixture f's clock: up on f's Redis, down on a Redis that cannot be
// reached (a Redis outage, seen by the same spool file).
type spooling struct {
	spool    *spool.Spool
	up, down *subscription.Service
	signer   *subscription.Signer
	logs     *bytes.Buffer // up's log
}

func newSpooling(t *testing.T, f *fixture) *spooling {
	t.Helper()
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool", "actions"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	cfg := subscription.Config{Title: "T", BaseURL: base, Spool: sp}
	now := func() time.Time { return f.now }
	logs := &bytes.Buffer{}
	return &spooling{
		spool:  sp,
		signer: signer,
		logs:   logs,
		up:     subscription.New(f.store, nil, signer, cfg, now, slog.New(slog.NewTextHandler(logs, nil))),
		down:   subscription.New(downStore(), nil, signer, cfg, now, slog.New(slog.DiscardHandler)),
	}
}

func (s *spooling) tok(p subscription.Purpose, id int64, at time.Time) string {
	return s.signer.Sign(p, id, at)
}

// TestReaderActionsSpooledWhileRedisIsAway: with Redis unreachable, a
// confirmation, a format change and an unsubscription are answered as done
// and kept in the spool; DrainSpool applies them in the order made, with
// the times the reader acted, once Redis answers.
func TestReaderActionsSpooledWhileRedisIsAway(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub := subscribe(t, f, "away@example.com")
	issued := f.now

	f.now = issued.Add(time.Hour)
	confirmedAt := f.now
	outcome, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, sub.ID, issued), "192.0.2.44")
	if err != nil || outcome != subscription.Confirmed {
		t.Fatalf("confirm with Redis away: %v %v, want Confirmed (spooled)", outcome, err)
	}
	f.now = issued.Add(2 * time.Hour)
	got, err := s.down.SetFormat(ctx, s.tok(subscription.PurposePreferences, sub.ID, issued), digest.FormatText)
	if err != nil || got.ID != sub.ID || got.Status != digest.Active || got.Format != digest.FormatText {
		t.Fatalf("format with Redis away: %+v %v", got, err)
	}
	f.now = issued.Add(3 * time.Hour)
	leftAt := f.now
	got, err = s.down.Unsubscribe(ctx, subscription.PurposeUnsubscribe, s.tok(subscription.PurposeUnsubscribe, sub.ID, issued), "one-click")
	if err != nil || got.ID != sub.ID || got.Status != digest.Unsubscribed {
		t.Fatalf("unsubscribe with Redis away: %+v %v", got, err)
	}
	if n := s.spool.Pending(); n != 3 {
		t.Fatalf("%d actions spooled, want 3", n)
	}
	if still, _ := f.store.Subscriber(ctx, sub.ID); still.Status != digest.Pending {
		t.Fatalf("Redis changed while away: %s", still.Status)
	}
	// Still away: nothing is applied, nothing lost.
	if n, err := s.down.DrainSpool(ctx); n != 0 || err == nil || s.spool.Pending() != 3 {
		t.Errorf("draining with Redis still away: %d applied, %v; %d left", n, err, s.spool.Pending())
	}

	f.now = issued.Add(5 * time.Hour)
	n, err := s.up.DrainSpool(ctx)
	if err != nil || n != 3 || s.spool.Pending() != 0 {
		t.Fatalf("draining: %d applied, %v; %d left", n, err, s.spool.Pending())
	}
	after, _ := f.store.Subscriber(ctx, sub.ID)
	if after.Status != digest.Unsubscribed || after.Format != digest.FormatText ||
		!after.Consent.ConfirmedAt.Equal(confirmedAt) || after.Consent.ConfirmIP != "192.0.2.44" ||
		!after.Consent.LeftAt.Equal(leftAt) || after.Consent.LeftHow != "one-click" {
		t.Errorf("after the drain: %s, %s, consent %+v; want unsubscribed, text, confirmed at %v, left at %v",
			after.Status, after.Format, after.Consent, confirmedAt, leftAt)
	}
	if !strings.Contains(s.logs.String(), "Spooled reader actions applied") {
		t.Errorf("the drain was not logged: %q", s.logs.String())
	}
	s.logs.Reset()
	if n, err := s.up.DrainSpool(ctx); n != 0 || err != nil || strings.Contains(s.logs.String(), "applied") {
		t.Errorf("draining an empty spool: %d %v, logged %q", n, err, s.logs.String())
	}
}

// TestSpooledActionsGoFirst: while actions wait in the spool, a reader's
// next action does not overtake them: once Redis answers, the spool is
// applied first, then the new action.
func TestSpooledActionsGoFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub := subscribe(t, f, "order@example.com")
	if _, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, sub.ID, f.now), ""); err != nil {
		t.Fatal(err)
	}
	// Redis is back; the reader now leaves. Had the leave gone first, the
	// spooled confirmation would find them unsubscribed and do nothing.
	f.now = f.now.Add(time.Minute)
	got, err := s.up.Unsubscribe(ctx, subscription.PurposeUnsubscribe, s.tok(subscription.PurposeUnsubscribe, sub.ID, f.now), "link")
	if err != nil || got.Status != digest.Unsubscribed {
		t.Fatalf("unsubscribe: %+v %v", got, err)
	}
	if n := s.spool.Pending(); n != 0 {
		t.Errorf("%d actions left in the spool", n)
	}
	after, _ := f.store.Subscriber(ctx, sub.ID)
	if after.Status != digest.Unsubscribed || after.Consent.ConfirmedAt.IsZero() || after.Consent.LeftHow != "link" {
		t.Errorf("after: %s, consent %+v; want confirmed, then unsubscribed", after.Status, after.Consent)
	}

	// While Redis is away, actions queue up and are applied in the order
	// made.
	if _, err := s.down.SetFormat(ctx, s.tok(subscription.PurposePreferences, sub.ID, f.now), digest.FormatText); err != nil {
		t.Fatal(err)
	}
	if _, err := s.down.SetFormat(ctx, s.tok(subscription.PurposePreferences, sub.ID, f.now), digest.FormatHTML); err != nil {
		t.Fatal(err)
	}
	if n, err := s.up.DrainSpool(ctx); n != 2 || err != nil {
		t.Fatalf("drain: %d %v", n, err)
	}
	if after, _ := f.store.Subscriber(ctx, sub.ID); after.Format != digest.FormatHTML {
		t.Errorf("format %s after text then html, want html", after.Format)
	}
}

// TestSpoolDropsWhatNoLongerApplies: an unreadable record and an action
// for a subscriber erased meanwhile are dropped with a warning, and the
// actions after them are applied.
func TestSpoolDropsWhatNoLongerApplies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	erased := subscribe(t, f, "erased@example.com")
	stays := subscribe(t, f, "stays@example.com")
	if _, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, erased.ID, f.now), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.spool.Append([]byte("{not json")); err != nil {
		t.Fatal(err)
	}
	// An action of a kind this version does not know (written by a later
	// one before a rollback) is an answer, not an outage: dropped, and the
	// drain goes on.
	if err := s.spool.Append(fmt.Appendf(nil, `{"op":"rename","id":%d}`, stays.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, stays.ID, f.now), ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Forget(ctx, "erased@example.com"); err != nil {
		t.Fatal(err)
	}
	n, err := s.up.DrainSpool(ctx)
	if err != nil || n != 4 || s.spool.Pending() != 0 {
		t.Fatalf("drain: %d applied, %v, %d left; want all 4 done with", n, err, s.spool.Pending())
	}
	if got, _ := f.store.Subscriber(ctx, stays.ID); got.Status != digest.Active {
		t.Errorf("the action after the dropped ones: %s, want active", got.Status)
	}
	for _, want := range []string{"Spooled reader action unreadable; dropped", "Spooled reader action no longer applies; dropped",
		`error="subscription: unknown reader action \"rename\""`} {
		if !strings.Contains(s.logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, s.logs.String())
		}
	}
}

// TestSpoolNotUsedWhenRedisAnswers: with Redis up, actions are applied at
// once (nothing spooled), and a link of an erased reader is refused, not
// spooled; without a spool, Redis away is an error the reader sees.
func TestSpoolNotUsedWhenRedisAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub := subscribe(t, f, "live@example.com")
	if out, err := s.up.Confirm(ctx, s.tok(subscription.PurposeConfirm, sub.ID, f.now), ""); err != nil || out != subscription.Confirmed {
		t.Fatalf("confirm: %v %v", out, err)
	}
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Status != digest.Active || s.spool.Pending() != 0 {
		t.Errorf("confirm with Redis up: %s, %d spooled", got.Status, s.spool.Pending())
	}
	if _, err := s.up.SetFormat(ctx, s.tok(subscription.PurposePreferences, 987654, f.now), digest.FormatText); !errors.Is(err, subscription.ErrInvalidToken) {
		t.Errorf("a link of an unknown subscriber: %v, want ErrInvalidToken", err)
	}
	if s.spool.Pending() != 0 {
		t.Errorf("a refused action was spooled")
	}

	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	noSpool := subscription.New(downStore(), nil, signer, subscription.Config{Title: "T", BaseURL: base},
		func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	if _, err := noSpool.Unsubscribe(ctx, subscription.PurposeUnsubscribe, s.tok(subscription.PurposeUnsubscribe, sub.ID, f.now), "link"); err == nil {
		t.Error("Redis away and no spool: the unsubscription was reported done")
	}
	if n, err := noSpool.DrainSpool(ctx); n != 0 || err != nil {
		t.Errorf("DrainSpool without a spool: %d %v", n, err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	noSpool.RunSpool(ended, time.Millisecond) // returns at once
}

// TestSpoolThatCannotBeWritten: with Redis away and the spool unwritable,
// the reader's action is an error naming both, not a false "done".
func TestSpoolThatCannotBeWritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := spool.Open(filepath.Join(dir, "actions"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	signer, _ := subscription.NewSigner([]string{gapsSecret})
	base, _ := url.Parse("https://news.example.com/")
	down := subscription.New(downStore(), nil, signer, subscription.Config{Title: "T", BaseURL: base, Spool: sp},
		func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	_, err = down.Unsubscribe(ctx, subscription.PurposeUnsubscribe, signer.Sign(subscription.PurposeUnsubscribe, 7, f.now), "link")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "spool") {
		t.Errorf("Redis away, spool unwritable: %v, want an error naming both", err)
	}
}

// TestSpoolLostWhileActionsWait: actions wait in the spool and its file
// goes away; the next action is not tried in Redis ahead of them, and the
// reader gets the spool's error, not a false "done".
func TestSpoolLostWhileActionsWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub := subscribe(t, f, "lost@example.com")
	if _, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, sub.ID, f.now), ""); err != nil || s.spool.Pending() != 1 {
		t.Fatalf("spooled confirm: %v, %d pending", err, s.spool.Pending())
	}
	if err := os.RemoveAll(filepath.Dir(s.spool.Path())); err != nil {
		t.Fatal(err)
	}
	_, err := s.up.SetFormat(ctx, s.tok(subscription.PurposePreferences, sub.ID, f.now), digest.FormatText)
	if err == nil || !errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "nil") {
		t.Errorf("spool gone with an action waiting: %v, want the spool's error", err)
	}
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Format != digest.FormatHTML || got.Status != digest.Pending {
		t.Errorf("the action overtook the one waiting: %s, %s", got.Status, got.Format)
	}
}

// TestRunSpool applies spooled actions while it runs, once Redis answers,
// and returns when its context ends.
func TestRunSpool(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recording(t, f)
	ctx := context.Background()
	s := newSpooling(t, f)
	sub := subscribe(t, f, "run@example.com")
	if _, err := s.down.Confirm(ctx, s.tok(subscription.PurposeConfirm, sub.ID, f.now), ""); err != nil {
		t.Fatal(err)
	}
	run, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.up.RunSpool(run, 5*time.Millisecond); close(done) }()
	for deadline := time.Now().Add(10 * time.Second); s.spool.Pending() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Status != digest.Active || s.spool.Pending() != 0 {
		t.Errorf("after RunSpool: %s, %d left in the spool", got.Status, s.spool.Pending())
	}
}
