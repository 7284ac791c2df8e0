package subscription_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

// Export then import gives back every address and name as it was,
// including those a spreadsheet would run as a formula.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := newFixture(t)
	ctx := context.Background()
	emails := []string{"=a@example.com", "+b@example.com", "-c@example.com", "@d\"@example.com", "'e@example.com",
		"''f@example.com", "'=g@example.com", "plain@example.com", "h'@example.com"}
	names := []string{"=SUM(A1)", "+1", "-x", "@me", "'quoted", "''", "'=x", "Plain", "O'Hara"}
	var added []string
	for i, e := range emails {
		sub, _, err := src.svc.Add(ctx, subscription.AddRequest{Email: e, Name: names[i], Status: digest.Active})
		if err != nil {
			if strings.Contains(e, "\"") {
				continue // not an address the checks accept: nothing to round-trip
			}
			t.Fatalf("add %q: %v", e, err)
		}
		added = append(added, sub.Email)
	}
	var csv bytes.Buffer
	if err := src.svc.Export(ctx, &csv); err != nil {
		t.Fatal(err)
	}
	dst := newFixture(t)
	rep, err := dst.svc.Import(ctx, bytes.NewReader(csv.Bytes()), "round trip")
	if err != nil || rep.Added != len(added) || rep.InvalidCount != 0 {
		t.Fatalf("import of the export: %+v, %v\n%s", rep, err, csv.String())
	}
	for i, e := range added {
		got, err := dst.store.SubscriberByEmail(ctx, e)
		if err != nil {
			t.Errorf("%q did not come back: %v", e, err)
			continue
		}
		if want, _ := src.store.SubscriberByEmail(ctx, e); got.Name != want.Name {
			t.Errorf("%q: name %q came back as %q", e, want.Name, got.Name)
		}
		_ = i
	}
	counts, _ := dst.store.CountSubscribers(ctx)
	if counts[digest.Active] != int64(len(added)) {
		t.Errorf("%d active after the import, want %d (no bogus extra subscriber)", counts[digest.Active], len(added))
	}
}

// A cell over 1 KB makes its line invalid; a huge one is skipped without
// being held in memory, and the lines after it keep their numbers.
func TestImportCellLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	in := io.MultiReader(
		strings.NewReader("email,name\nok1@example.com,One\n"),
		strings.NewReader("long@example.com,"+strings.Repeat("n", 1025)+"\n"),
		strings.NewReader("huge@example.com,\""),
		io.LimitReader(repeat('x'), 50<<20), // a 50 MB quoted cell with line breaks in it
		strings.NewReader("\"\nok2@example.com,Two\n"),
		strings.NewReader("\"multi\nline\",ok3@example.com\n"),
	)
	rep, err := f.svc.Import(ctx, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 2 || rep.InvalidCount != 3 {
		t.Fatalf("report %+v, want 2 added (ok1, ok2) and 3 invalid", rep)
	}
	want := []string{"line 3: cell 2 is longer than 1024 bytes", "line 4: the line is longer than 16 KiB"}
	for i, w := range want {
		if got := fmt.Sprintf("line %d: %s", rep.Invalid[i].Line, rep.Invalid[i].Reason); got != w {
			t.Errorf("invalid[%d] = %q, want %q", i, got, w)
		}
	}
	if _, err := f.store.SubscriberByEmail(ctx, "ok2@example.com"); err != nil {
		t.Errorf("the line after the huge cell was lost: %v", err)
	}
}

// repeat is an endless reader of b, with a line break every 100 bytes.
type repeatReader byte

func repeat(b byte) io.Reader { return repeatReader(b) }

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
		if i%100 == 99 {
			p[i] = '\n'
		}
	}
	return len(p), nil
}
