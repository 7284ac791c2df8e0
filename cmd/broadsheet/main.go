// Command broadsheet turns a news site's front page into a daily edition,
// published on the web and as RSS, Atom and JSON Feed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/redis/go-redis/v9"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/store"
)

func main() { os.Exit(mainStatus(os.Args[1:])) }

// mainStatus runs the process's command line and returns its exit status.
// SIGINT (Ctrl-C) and SIGTERM end it cleanly: serve stops and exits 0.
func mainStatus(args []string) int {
	// go-redis logs every failed dial to stderr on its own; broadsheet
	// reports the failure itself, in one line.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, args, stdio{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	return report(err, os.Stderr)
}

// quietRedis silences go-redis's own log (its package-level logger is the
// only way to).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// stdio is the process's environment, passed in so tests can run the CLI
// in-process.
type stdio struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

const usage = `broadsheet turns a news site's front page into a daily edition.

Usage:
  broadsheet serve    [flags]           serve the site and feeds; build on schedule
  broadsheet build    [flags]           build today's (or --date's) edition and publish it
  broadsheet send     [flags]           mail the latest (or --edition's) edition to every active subscriber
  broadsheet parse    [--json] FILE|-   print what a front page reads as
  broadsheet preview  [flags]           print an edition's mail as a subscriber gets it
  broadsheet subscribers add|remove|list|count|import|export
                                        manage subscribers
  broadsheet bounces  [--kind K]        list the bounces, complaints and mailto: unsubscribes that came back

Run "broadsheet COMMAND --help" for a command's flags. Settings can also be
set with BROADSHEET_* environment variables (each flag's help names its
own); a flag wins over its variable.
`

// run runs the command line args and returns what went wrong, if anything.
func run(ctx context.Context, args []string, sys stdio) error {
	if len(args) == 0 {
		fmt.Fprint(sys.stderr, usage)
		return usageErrorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, sys)
	case "build":
		return runBuild(ctx, rest, sys)
	case "parse":
		return runParse(ctx, rest, sys)
	case "subscribers":
		return runSubscribers(ctx, rest, sys)
	case "send":
		return runSend(ctx, rest, sys)
	case "preview":
		return runPreview(ctx, rest, sys)
	case "bounces":
		return runBounces(ctx, rest, sys)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(sys.stdout, usage)
		return nil
	default:
		fmt.Fprint(sys.stderr, usage)
		return usageErrorf("unknown command %q", cmd)
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// report prints err as one line on stderr and returns the exit status:
// 0 success, 2 bad usage or bad input, 1 anything else.
func report(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "broadsheet: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) || digest.IsSourceError(err) || errors.Is(err, store.ErrOutsideWindow) {
		return 2
	}
	return 1
}
