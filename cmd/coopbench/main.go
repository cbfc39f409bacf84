// Command coopbench measures a real coopnet node, built with internal/node
// over SQLite or PostgreSQL and served on 127.0.0.1:
//
//	coopbench inbox   signed Update and Create activities from fake peers,
//	                  posted by concurrent senders to the shared inbox
//	coopbench fanout  one profile Update delivered to many followers on
//	                  loopback sinks that verify every signature
//	coopbench start   time until `coopnet serve` answers /healthz and
//	                  /readyz, and its idle RSS
//	coopbench search  directory search: the index alone on one core, then
//	                  `coopnet serve` with 10,000 peers' coops loaded
//	coopbench referrals
//	                  referrals from node A to node B, accepted back:
//	                  latency of each step and throughput
//
// Every load stays on loopback addresses, and every loop is bounded in count
// and in time. The figures are recorded in BENCHMARKS.md.
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
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, out io.Writer) error
}

func commands() []command {
	return []command{
		{"inbox", "inbox throughput: signed activities from fake peers to the shared inbox", runInbox},
		{"fanout", "delivery of one profile Update to many followers on loopback sinks", runFanout},
		{"start", "time to ready and idle RSS of `coopnet serve` on an existing database", runStart},
		{"search", "directory search: the index alone, then `coopnet serve`'s search API on a loaded network", runSearch},
		{"referrals", "referral round trip between two nodes: Offer, stored at B, Accept recorded at A", runReferrals},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the subcommand named by args[0] and returns the exit code: 0, 1 for
// a failed benchmark, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			if err.Error() != "" { // else the flag package has said it
				fmt.Fprintf(stderr, "coopbench %s: %v\n", c.name, err)
			}
			return 2
		default:
			fmt.Fprintf(stderr, "coopbench %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "coopbench: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: coopbench COMMAND [flags]   (coopbench COMMAND -h for its flags)")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

// usageError is a bad flag or argument: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// parseFlags parses args into fs and refuses positional arguments. The flag
// package prints its own errors, with the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{}
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
