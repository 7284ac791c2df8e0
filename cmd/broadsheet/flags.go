package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// envFlags is a command's flags, whose defaults come from BROADSHEET_*
// variables.
type envFlags struct {
	fs       *flag.FlagSet
	synopsis string
	getenv   func(string) string
	errs     []string
	// The heading --help lists a shared flag under; a command's own
	// flags (registered on fs directly) have none.
	current   string
	sections  []string
	sectionOf map[string]string
}

// newFlags returns the flags of cmd. Parse errors are reported once, by
// parseFlags; --help prints the usage to stdout.
func newFlags(cmd, synopsis string, getenv func(string) string) *envFlags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &envFlags{fs: fs, synopsis: synopsis, getenv: getenv, sectionOf: map[string]string{}}
}

// section makes the next flags registered with the helpers below part of
// the shared group heading ("": the command's own flags).
func (f *envFlags) section(heading string) {
	f.current = heading
	if heading != "" && !slices.Contains(f.sections, heading) {
		f.sections = append(f.sections, heading)
	}
}

func (f *envFlags) string(p *string, name, def, help string) {
	f.fs.StringVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a string")
}

func (f *envFlags) int(p *int, name string, def int, help string) {
	f.fs.IntVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a whole number")
}

func (f *envFlags) bool(p *bool, name string, def bool, help string) {
	f.fs.BoolVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "true or false")
}

func (f *envFlags) float(p *float64, name string, def float64, help string) {
	f.fs.Float64Var(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a number")
}

func (f *envFlags) duration(p *time.Duration, name string, def time.Duration, help string) {
	f.fs.DurationVar(p, name, def, help+" ($"+envName(name)+")")
	f.fromEnv(name, "a duration like 6h or 90m")
}

// fromEnv sets flag name from its BROADSHEET_* variable, when set, with the
// parser the command line uses (so a flag given later wins, and both are
// checked alike after parsing); kind names what the value must be.
func (f *envFlags) fromEnv(name, kind string) {
	if f.current != "" {
		f.sectionOf[name] = f.current
	}
	env := envName(name)
	if v := f.getenv(env); v != "" {
		if err := f.fs.Set(name, v); err != nil {
			f.errs = append(f.errs, fmt.Sprintf("$%s=%q is not %s", env, v, kind))
		}
	}
}

func envName(flagName string) string {
	return "BROADSHEET_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args. --help prints the usage to stdout and returns
// flag.ErrHelp; a bad flag is a usage error.
func parseFlags(f *envFlags, args []string, stdout io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			f.printUsage(stdout)
			return err
		}
		return usageErrorf("%s: %v (see broadsheet %s --help)", f.fs.Name(), err, f.fs.Name())
	}
	if len(f.errs) > 0 {
		return usageErrorf("%s", strings.Join(f.errs, "; "))
	}
	return nil
}

// printUsage prints the usage line, the command's own flags, then each
// group of shared flags under its heading.
func (f *envFlags) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: broadsheet %s %s\n", f.fs.Name(), f.synopsis)
	for _, heading := range append([]string{""}, f.sections...) {
		group := flag.NewFlagSet(heading, flag.ContinueOnError)
		group.SetOutput(w)
		n := 0
		f.fs.VisitAll(func(fl *flag.Flag) {
			if f.sectionOf[fl.Name] == heading {
				group.Var(fl.Value, fl.Name, fl.Usage)
				group.Lookup(fl.Name).DefValue = fl.DefValue
				n++
			}
		})
		if n == 0 {
			continue
		}
		if heading == "" {
			heading = "Flags"
		}
		fmt.Fprintf(w, "\n%s:\n", heading)
		group.PrintDefaults()
	}
}
