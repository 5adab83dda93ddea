// Command netburst is netburst's offline and interactive tool: ping with
// kernel timestamps, locate the segment that added delay, top talkers of a
// capture, and the bond slave a flow hashes to.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

// runFunc runs a parsed subcommand, writing its results to out.
type runFunc func(ctx context.Context, out io.Writer) error

// registrar adds one subcommand and its flags to app and returns the
// function that runs it once the command line is parsed.
type registrar func(app *kingpin.Application) (*kingpin.CmdClause, runFunc)

// subcommands lists every subcommand; each lives in a file of its own.
var subcommands = []registrar{registerPing, registerTop, registerBondHash, registerLocate}

// usageError marks an error in what the user asked for (exit status 2), as
// opposed to a failure while doing it (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, runs the chosen subcommand and returns the exit status:
// 0 success, 1 failure, 2 bad usage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("netburst", "Offline and interactive companion of netburst_exporter: ping with kernel timestamps, locate the path segment that added delay, top talkers of a capture, bond slave hashing.")
	app.Version(version.Print("netburst"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(nil)
	runs := map[string]runFunc{}
	for _, reg := range subcommands {
		cmd, fn := reg(app)
		runs[cmd.FullCommand()] = fn
	}
	exited := false
	app.Terminate(func(int) { exited = true })
	chosen, err := app.Parse(args)
	if exited {
		// --help or --version printed what was asked.
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "netburst: error: %v (try --help)\n", err)
		return 2
	}
	fn, ok := runs[chosen]
	if !ok {
		fmt.Fprintln(stderr, "netburst: error: no subcommand given (try --help)")
		return 2
	}
	if err := fn(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "netburst %s: error: %v\n", chosen, err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}
