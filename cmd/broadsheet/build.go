package main

import (
	"context"
	"fmt"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/web"
)

func runBuild(ctx context.Context, args []string, sys stdio) error {
	cfg := newConfig()
	f := newFlags("build", "[--date YYYY-MM-DD] [--out DIR] [--source PATH|URL|-] [flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.linkFlags(f)
	cfg.editionFlags(f)
	date := f.fs.String("date", "", "the edition's day, YYYY-MM-DD (default: today in --timezone)")
	out := f.fs.String("out", "", "also write the site as static files to this directory")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("build: unexpected argument %q", f.fs.Arg(0))
	}
	if *date != "" {
		if _, err := digest.ParseDay(*date); err != nil {
			return usageErrorf("--date %q is not a day in YYYY-MM-DD form", *date)
		}
	}
	a, err := newApp(ctx, &cfg, sys)
	if err != nil {
		return err
	}
	defer a.Close()
	if *date != "" {
		if err := a.pub.CheckDay(*date); err != nil {
			return usageErrorf("--date %v", err)
		}
	}

	res, err := a.pub.Build(ctx, a.source(sys), *date)
	if err != nil {
		return err
	}
	e := res.Edition
	fmt.Fprintf(sys.stdout, "%s: %s — %q, %d headlines\n", e.ID, res.Outcome, e.Title(), len(e.Page.Headlines))
	if *out == "" {
		return nil
	}
	snap, err := a.pub.Snapshot(ctx)
	if err != nil {
		return err
	}
	if err := web.Export(ctx, *out, a.pages, cfg.Title, snap, a.pub); err != nil {
		return err
	}
	fmt.Fprintf(sys.stdout, "wrote the static site to %s\n", *out)
	return nil
}
