package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/subscription"
)

const subscribersUsage = `Usage:
  broadsheet subscribers add EMAIL [--name NAME] [--status pending|active] [--consent TEXT]
  broadsheet subscribers remove EMAIL        erase a subscriber (keeps a hash so imports can't re-add)
  broadsheet subscribers list [--status S]   one line per subscriber
  broadsheet subscribers count               one line per status, then the total
  broadsheet subscribers import FILE|-       CSV with a header row: email,name[,status]
  broadsheet subscribers export              CSV on standard output
"broadsheet subscribers COMMAND --help" lists a command's flags.
`

// subscriberVerbs are the subscribers commands: their usage line and
// how many arguments each takes.
var subscriberVerbs = map[string]struct {
	synopsis string
	args     int
}{
	"add":    {"EMAIL [--name NAME] [--status pending|active] [--consent TEXT] [flags]", 1},
	"remove": {"EMAIL [flags]", 1},
	"list":   {"[--status pending|active|unsubscribed|bounced] [flags]", 0},
	"count":  {"[flags]", 0},
	"import": {"FILE|- [--consent TEXT] [flags]", 1},
	"export": {"[flags]", 0},
}

func runSubscribers(ctx context.Context, args []string, sys stdio) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		if len(args) == 0 {
			fmt.Fprint(sys.stderr, subscribersUsage)
			return usageErrorf("subscribers: give a command")
		}
		fmt.Fprint(sys.stdout, subscribersUsage)
		return nil
	}
	verb, rest := args[0], args[1:]
	v, ok := subscriberVerbs[verb]
	if !ok {
		fmt.Fprint(sys.stderr, subscribersUsage)
		return usageErrorf("subscribers: unknown command %q", verb)
	}
	cfg := newConfig()
	f := newFlags("subscribers "+verb, v.synopsis, sys.getenv)
	var name, status, consent string
	switch verb {
	case "add":
		f.fs.StringVar(&name, "name", "", "the subscriber's name")
		f.fs.StringVar(&status, "status", "", "pending (a confirmation mail is sent) or active")
		f.fs.StringVar(&consent, "consent", "", "how the subscriber consented, e.g. \"paper form\"")
	case "list":
		f.fs.StringVar(&status, "status", "", "list only subscribers with this status")
	case "import":
		f.fs.StringVar(&consent, "consent", "", "how the subscribers consented (default \"import via CLI\")")
	}
	cfg.storeFlags(f)
	if verb == "add" {
		// A pending subscriber gets a confirmation mail: its links and sender.
		cfg.linkFlags(f)
		cfg.mailFlags(f)
	}
	// Flags may follow the positional argument: "add ann@example.com --name Ann".
	var positional []string
	for len(rest) > 0 {
		if err := parseFlags(f, rest, sys.stdout); err != nil {
			return err
		}
		if f.fs.NArg() == 0 {
			break
		}
		positional = append(positional, f.fs.Arg(0))
		rest = f.fs.Args()[1:]
	}
	if len(positional) != v.args {
		return usageErrorf("subscribers %s: expected %d argument(s), got %d (usage: broadsheet subscribers %s %s)", verb, v.args, len(positional), verb, v.synopsis)
	}
	a, err := newApp(ctx, &cfg, sys)
	if err != nil {
		return err
	}
	defer a.Close()
	s := a.subs
	switch verb {
	case "add":
		sub, result, err := s.Add(ctx, subscription.AddRequest{Email: positional[0], Name: name,
			Status: digest.SubscriberStatus(status), Consent: consent})
		if err != nil {
			return cliError(err)
		}
		what := result.String()
		// A pending subscriber's confirmation mail is queued: send it now,
		// whether or not a serve is running to do it.
		if _, err := s.DeliverQueued(ctx); err != nil {
			return err
		}
		fmt.Fprintf(sys.stdout, "%s: %s (%s, id %d)\n", sub.Email, what, sub.Status, sub.ID)
	case "remove":
		if err := s.Forget(ctx, positional[0]); err != nil {
			return cliError(err)
		}
		fmt.Fprintf(sys.stdout, "%s: erased\n", positional[0])
	case "count":
		counts, err := s.Counts(ctx)
		if err != nil {
			return err
		}
		var total int64
		for _, st := range digest.Statuses {
			fmt.Fprintf(sys.stdout, "%s %d\n", st, counts[st])
			total += counts[st]
		}
		fmt.Fprintf(sys.stdout, "total %d\n", total)
	case "list":
		tw := tabwriter.NewWriter(sys.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tSTATUS\tFORMAT\tNAME")
		cursor := int64(0)
		for {
			page, next, err := s.List(ctx, digest.SubscriberStatus(status), cursor, 1000)
			if err != nil {
				return cliError(err)
			}
			for _, sub := range page {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", sub.ID, sub.Email, sub.Status, sub.Format, sub.Name)
			}
			if next == 0 {
				return tw.Flush()
			}
			cursor = next
		}
	case "import":
		var r io.Reader = sys.stdin
		if positional[0] != "-" {
			file, err := os.Open(positional[0])
			if err != nil {
				return usageErrorf("subscribers import: %v", err)
			}
			defer file.Close()
			r = file
		}
		text := consent
		if text == "" {
			text = "import via CLI"
		}
		rep, err := s.Import(ctx, r, text)
		if err != nil {
			return cliError(err)
		}
		for _, bad := range rep.Invalid {
			fmt.Fprintf(sys.stderr, "line %d: %s\n", bad.Line, bad.Reason)
		}
		fmt.Fprintf(sys.stdout, "added %d, existing %d, suppressed %d, invalid %d\n",
			rep.Added, rep.Existing, rep.Suppressed, rep.InvalidCount)
		if rep.InvalidCount > len(rep.Invalid) {
			fmt.Fprintf(sys.stderr, "(only the first %d invalid lines are listed)\n", len(rep.Invalid))
		}
	case "export":
		return s.Export(ctx, sys.stdout)
	}
	return nil
}

// cliError turns a bad field or a refused address into a usage error
// (exit 2); anything else stays a runtime failure.
func cliError(err error) error {
	var fe *subscription.FieldError
	switch {
	case errors.As(err, &fe):
		return usageErrorf("%v", fe)
	case errors.Is(err, digest.ErrNotFound):
		return usageErrorf("no such subscriber")
	case errors.Is(err, digest.ErrSuppressed):
		return usageErrorf("%v", digest.ErrSuppressed)
	}
	return err
}
