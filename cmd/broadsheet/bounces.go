package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/broadsheet-news/broadsheet/feedback"
)

func runBounces(ctx context.Context, args []string, sys stdio) error {
	cfg := newConfig()
	f := newFlags("bounces", "[--kind hard|soft|complaint|unsubscribe] [--limit N] [flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.linkFlags(f)
	cfg.mailFlags(f)
	cfg.inboundFlags(f)
	kind := f.fs.String("kind", "", "only reports of this kind: hard, soft, complaint or unsubscribe")
	limit := f.fs.Int("limit", 0, "at most this many, newest first (0: every one kept)")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("bounces: unexpected argument %q", f.fs.Arg(0))
	}
	if *limit < 0 {
		return usageErrorf("--limit must not be negative")
	}
	a, err := newApp(ctx, &cfg, sys)
	if err != nil {
		return err
	}
	defer a.Close()
	svc, err := a.feedbackService(a.signer)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(sys.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tKIND\tEMAIL\tEDITION\tSOURCE\tDIAGNOSTIC")
	cursor, n := "", 0
	for {
		page := 1000
		if *limit > 0 {
			page = min(page, *limit-n)
		}
		evs, next, err := svc.Events(ctx, *kind, cursor, page)
		if errors.Is(err, feedback.ErrBadKind) {
			return usageErrorf("--kind %q is not hard, soft, complaint or unsubscribe", *kind)
		}
		if err != nil {
			return err
		}
		for _, e := range evs {
			edition := e.Edition
			if edition == "" {
				edition = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Format("2006-01-02 15:04:05"), e.Kind, e.Email, edition, e.Source, e.Diagnostic)
		}
		n += len(evs)
		if next == "" || (*limit > 0 && n >= *limit) {
			return tw.Flush()
		}
		cursor = next
	}
}
