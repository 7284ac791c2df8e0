package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/broadsheet-news/broadsheet/digest"
	"github.com/broadsheet-news/broadsheet/mailer"
)

func runSend(ctx context.Context, args []string, sys stdio) error {
	cfg := newConfig()
	f := newFlags("send", "[--edition YYYY-MM-DD] [--dry-run] [--test-to EMAIL] [--resend-failed] [flags]", sys.getenv)
	cfg.storeFlags(f)
	cfg.linkFlags(f)
	cfg.mailFlags(f)
	cfg.digestFlags(f)
	cfg.sendingFlags(f)
	edition := f.fs.String("edition", "", "the edition's day, YYYY-MM-DD (default: the latest edition)")
	dryRun := f.fs.Bool("dry-run", false, "say what would be sent, send nothing")
	testTo := f.fs.String("test-to", "", "send the edition to this address only, outside the delivery ledger")
	resend := f.fs.Bool("resend-failed", false, "send again to subscribers who did not get a finished edition (failed, given up)")
	if err := parseFlags(f, args, sys.stdout); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageErrorf("send: unexpected argument %q", f.fs.Arg(0))
	}
	a, e, err := openEdition(ctx, &cfg, sys, *edition)
	if err != nil {
		return err
	}
	defer a.Close()
	if *testTo != "" {
		return sendTest(ctx, a, e, *testTo, sys.stdout)
	}
	if *dryRun {
		return sendDryRun(ctx, a, e, sys.stdout)
	}
	prior, err := a.store.SendJob(ctx, e.ID)
	if err != nil && !errors.Is(err, digest.ErrNotFound) {
		return err
	}
	a.warnMail()
	bar := newProgress(sys.stdout)
	job, err := a.sender.Send(ctx, e.ID, *resend, bar.update)
	bar.finish()
	switch {
	case errors.Is(err, mailer.ErrEmptyEdition):
		return usageErrorf("edition %s has no headlines: it is not sent", e.ID)
	case errors.Is(err, mailer.ErrNoAudience):
		fmt.Fprintf(sys.stdout, "%s: no active subscriber: nothing sent, no send job made\n", e.ID)
		return nil
	case err != nil:
		return err
	}
	if prior.State == digest.SendDone && !*resend {
		if job.Epoch == prior.Epoch {
			fmt.Fprintf(sys.stdout, "%s: already sent, and no active subscriber joined since: nothing to send\n", e.ID)
		} else {
			fmt.Fprintf(sys.stdout, "%s: sent to the %d active subscriber(s) who joined since it was sent\n", e.ID, job.CatchUp)
		}
	}
	fmt.Fprintln(sys.stdout, sendSummary(job))
	if job.Reason != "" {
		fmt.Fprintf(sys.stdout, "reason: %s\n", job.Reason)
	}
	if job.State == digest.SendPaused {
		return fmt.Errorf("the send of %s is paused: %s (resume it with POST /api/editions/%s/send/resume)", job.Edition, job.Reason, job.Edition)
	}
	return nil
}

// sendSummary is the line send ends with. The audience is the job's: the
// active subscribers when it started, or more when a resend reached
// readers who joined since (the job's total counts only the first).
func sendSummary(job digest.SendJob) string {
	audience := max(job.Total, job.Sent+job.Failed+job.Retrying)
	if audience == 0 {
		return fmt.Sprintf("%s: %s — no active subscribers: nothing sent", job.Edition, job.State)
	}
	line := fmt.Sprintf("%s: %s — sent %d, failed %d (bounced %d), waiting for a retry %d, of %d active %s",
		job.Edition, job.State, job.Sent, job.Failed, job.Bounced, job.Retrying, audience, plural(audience, "subscriber", "subscribers"))
	if skipped := job.Total - job.Sent - job.Failed - job.Retrying; job.State == digest.SendDone && skipped > 0 {
		// In the ledger before the job (the welcome mail), or gone since.
		line += fmt.Sprintf("; %d skipped (already had it, or no longer active)", skipped)
	}
	return line
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sendTest sends the edition to one address, as a subscriber would get it,
// outside the ledger.
func sendTest(ctx context.Context, a *app, e digest.Edition, to string, out io.Writer) error {
	email, err := digest.NormalizeEmail(to)
	if err != nil {
		return usageErrorf("--test-to: %v", err)
	}
	n, err := a.sender.SendTest(ctx, e, []string{email})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: sent a test to %d address(es)\n", e.ID, n)
	return nil
}

func sendDryRun(ctx context.Context, a *app, e digest.Edition, out io.Writer) error {
	counts, err := a.store.CountSubscribers(ctx)
	if err != nil {
		return err
	}
	job, err := a.store.SendJob(ctx, e.ID)
	switch {
	case errors.Is(err, digest.ErrNotFound):
		fmt.Fprintf(out, "%s: would send %q to %d active subscribers\n", e.ID, e.Title(), counts[digest.Active])
	case err != nil:
		return err
	default:
		fmt.Fprintf(out, "%s: a send job exists (%s): sent %d, failed %d of %d; sending again sends nothing new (--resend-failed retries the failed)\n",
			e.ID, job.State, job.Sent, job.Failed, job.Total)
	}
	return nil
}

// progress shows a send's progress: a bar redrawn in place on a terminal,
// a line every few seconds otherwise.
type progress struct {
	out      io.Writer
	terminal bool
	last     time.Time
	drawn    bool
}

func newProgress(out io.Writer) *progress {
	p := &progress{out: out}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(j digest.SendJob) {
	done := j.Sent + j.Failed
	pct := 0.0
	if j.Total > 0 {
		pct = float64(done) / float64(j.Total)
	}
	if p.terminal {
		const width = 30
		n := min(int(pct*width), width)
		fmt.Fprintf(p.out, "\r[%s%s] %5.1f%%  sent %d  failed %d  retrying %d  ", strings.Repeat("#", n), strings.Repeat(".", width-n),
			pct*100, j.Sent, j.Failed, j.Retrying)
		p.drawn = true
		return
	}
	if time.Since(p.last) >= 5*time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.out, "%s: %s, sent %d, failed %d, retrying %d, of %d\n", j.Edition, j.State, j.Sent, j.Failed, j.Retrying, j.Total)
	}
}

func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.out)
	}
}
