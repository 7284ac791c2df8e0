package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/broadsheet-news/broadsheet/digest"
)

func runParse(ctx context.Context, args []string, sys stdio) error {
	f := newFlags("parse", "[--json] FILE|-", sys.getenv)
	asJSON := f.fs.Bool("json", false, "print the front page as JSON")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() != 1 {
		return usageErrorf("parse: give one FILE, or - for standard input")
	}
	page, err := digest.TextSource{Path: f.fs.Arg(0), Stdin: sys.stdin}.FrontPage(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(sys.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(page)
	}
	printPage(sys.stdout, page)
	return nil
}

// printPage prints a front page for a person to read.
func printPage(w io.Writer, page digest.FrontPage) {
	fmt.Fprintf(w, "Headlines (%d):\n", len(page.Headlines))
	for i, h := range page.Headlines {
		mark := ""
		if h.Truncated {
			mark = "  [truncated]"
		}
		fmt.Fprintf(w, "%3d. %s%s\n", i+1, h.Title, mark)
		if h.URL != "" {
			fmt.Fprintf(w, "     %s\n", h.URL)
		}
	}
	l := page.Lead
	if l == nil {
		fmt.Fprintln(w, "\nNo lead article.")
		return
	}
	fmt.Fprintln(w, "\nLead article:")
	fmt.Fprintf(w, "  Section:  %s\n  Title:    %s\n  Credit:   %s\n", orNone(l.Section), l.Title, orNone(l.Credit))
	fmt.Fprintf(w, "  Body:     %d blocks\n", len(l.Blocks))
	for _, b := range l.Blocks {
		if b.Type == digest.Heading {
			fmt.Fprintf(w, "\n  ## %s\n", b.Text)
			continue
		}
		fmt.Fprintf(w, "  ¶ %s\n", shorten(b.Text, 100))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
