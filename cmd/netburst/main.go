package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// runFunc runs a parsed subcommand, writing its results to out and its
// warnings (what it left out of a result it still gives) through warn.
type runFunc func(ctx context.Context, out io.Writer, warn warnFunc) error

// warnFunc prints one warning line on stderr.
type warnFunc func(format string, args ...any)

// registrar adds one subcommand and its flags to app and returns the
// function that runs it once the command line is parsed.
type registrar func(app *kingpin.Application) (*kingpin.CmdClause, runFunc)

// subcommands lists every subcommand; each lives in a file of its own.
var subcommands = []registrar{registerPing, registerTop, registerBondHash, registerLocate, registerSpikes}

// usageError marks an error in what the user asked for (exit status 2), as
// opposed to a failure while doing it (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func init() {
	// kingpin's man page puts the version, several lines long, unquoted
	// into .TH: give it the one-line version as the source field instead.
	kingpin.ManPageTemplate = strings.Replace(kingpin.ManPageTemplate,
		`.TH {{.App.Name}} 1 {{.App.Version}} "{{.App.Author}}"`, manHeader(), 1)
}

// manHeader is the man page's .TH line: title, section, date (of the
// build, when stamped) and source (name and version).
func manHeader() string {
	date := ""
	if d := version.BuildDate; len(d) >= 8 {
		if _, err := strconv.Atoi(d[:8]); err == nil {
			date = d[0:4] + "-" + d[4:6] + "-" + d[6:8]
		}
	}
	source := "netburst"
	if version.Version != "" {
		source += " " + version.Version
	}
	q := func(s string) string { return `"` + strings.NewReplacer(`"`, "", `{`, "", `}`, "").Replace(s) + `"` }
	return ".TH {{.App.Name}} 1 " + q(date) + " " + q(source) + ` "User Commands"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// terminated is what kingpin's terminate function panics with: kingpin
// goes on after calling it (printing the usage again after --help or
// --version), so the parse is cut short there instead.
type terminated struct{ code int }

// parse runs app.Parse, stopping at the first terminate (--help,
// --version, --help-man, completion), whose status it returns in code.
func parse(app *kingpin.Application, args []string) (chosen string, code int, exited bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code, exited = t.code, true
		}
	}()
	chosen, err = app.Parse(args)
	return chosen, 0, false, err
}

// run parses args, runs the chosen subcommand and returns the exit status:
// 0 success, 1 failure, 2 bad usage (docs/exit-status.md).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("netburst", "Offline and interactive companion of netburst_exporter: ping with kernel timestamps, locate the path segment that added delay (from captures or from exporters), top talkers of a capture, bond slave hashing, an exporter's spike reports. Exit status: 0 done (warnings about an imperfect capture file on stderr), 1 failed, 2 bad usage.")
	app.Version(version.Print("netburst"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(func(code int) { panic(terminated{code}) })
	runs := map[string]runFunc{}
	for _, reg := range subcommands {
		cmd, fn := reg(app)
		runs[cmd.FullCommand()] = fn
	}
	if noCommand(app, args) {
		// One line, as every usage error, naming what could have been given.
		var names []string
		for _, c := range app.Model().Commands {
			if c.Name != "help" && !c.Hidden {
				names = append(names, c.Name)
			}
		}
		fmt.Fprintf(stderr, "netburst: error: no command given: one of %s (try --help)\n", strings.Join(names, ", "))
		return 2
	}
	chosen, code, exited, err := parse(app, args)
	if exited {
		// --help, --version, --help-man or completion printed what was asked.
		return code
	}
	if err != nil {
		fmt.Fprintf(stderr, "netburst: error: %s (try --help)\n", flagError(app, args, err))
		return 2
	}
	fn, ok := runs[chosen]
	if !ok {
		fmt.Fprintln(stderr, "netburst: error: no command given (try --help)")
		return 2
	}
	warn := func(format string, args ...any) {
		fmt.Fprintf(stderr, "netburst %s: warning: %s\n", chosen, fmt.Sprintf(format, args...))
	}
	if err := fn(ctx, stdout, warn); err != nil {
		fmt.Fprintf(stderr, "netburst %s: error: %v\n", chosen, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// noCommand reports whether args name no command and ask for nothing else
// (help, version, a man page or completion all come as flags).
func noCommand(app *kingpin.Application, args []string) bool {
	ctx, err := app.ParseContext(args)
	if err != nil || ctx.SelectedCommand != nil {
		return false
	}
	for _, e := range ctx.Elements {
		if _, ok := e.Clause.(*kingpin.FlagClause); ok {
			return false
		}
	}
	return true
}

// flagError names the flag whose value kingpin refused (its own message
// names only the value) and says what the flag wants in the user's words.
func flagError(app *kingpin.Application, args []string, err error) string {
	ctx, perr := app.ParseContext(args)
	if perr != nil {
		return err.Error()
	}
	for _, e := range ctx.Elements {
		f, ok := e.Clause.(*kingpin.FlagClause)
		if !ok || e.Value == nil {
			continue
		}
		m := f.Model()
		// Setting the value again gives the same error for the flag that
		// failed; the command is not run, so the second Set is harmless.
		if serr := m.Value.Set(*e.Value); serr == nil || serr.Error() != err.Error() {
			continue
		}
		return fmt.Sprintf("--%s=%s: %s", m.Name, *e.Value, valueProblem(err))
	}
	return err.Error()
}

// valueProblem turns a flag value's parse error into what was expected.
func valueProblem(err error) string {
	var ne *strconv.NumError
	msg := err.Error()
	switch {
	case errors.As(err, &ne):
		return "not a number"
	case strings.HasPrefix(msg, "time: "):
		return "not a duration (e.g. 500ms, 2s, 1m30s)"
	case strings.HasPrefix(msg, "enum value must be one of "):
		list, _, _ := strings.Cut(strings.TrimPrefix(msg, "enum value must be one of "), ", got")
		return "must be one of " + strings.ReplaceAll(list, ",", ", ")
	}
	return msg
}
