// Command coopnet runs a node of coopnet, the federated directory of worker
// cooperatives, and the administration tasks around it. Run `coopnet help` for
// the commands, their flags and the environment variables beside them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once: an operator
		// pressing Ctrl-C twice does not want to wait for a graceful shutdown.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes: 2 for anything the operator must fix before the command can run
// (flags, values, an unreachable database, a taken port), 1 for a failure
// after the node was running.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// app is what every command gets: where to write, and where settings come from.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one of coopnet's subcommands.
type command struct {
	name    string
	args    string // the synopsis after the name, for help
	summary string
	// setup registers the command's flags and returns the function that runs
	// it once they are parsed, so that help can list the flags without running.
	setup func(f *flagSet) func(ctx context.Context, a *app) error
}

func commands() []command {
	return []command{
		{name: "serve", args: "[flags]", summary: "run the node: apply migrations, then serve the web pages and the API", setup: setupServe},
		{name: "init", args: "--name NAME --slug SLUG --admin-email EMAIL [flags]", summary: "set the node up from a script: create its coop and first admin, as the setup page does", setup: setupInit},
		{name: "migrate", args: "[flags]", summary: "bring the database schema up to date (serve does it too, at start)", setup: setupMigrate},
		{name: "token create", args: "--slug SLUG --email EMAIL [--name NAME] [flags]", summary: "print a new personal access token for the JSON API for a member of a coop", setup: setupTokenCreate},
		{name: "follow", args: "--slug SLUG HANDLE_OR_URL [flags]", summary: "make a coop follow a peer (slug@host or an actor URL); the node delivers the Follow", setup: setupFollow},
		{name: "followers", args: "--slug SLUG [flags]", summary: "list who follows a coop, with the state of each follow", setup: setupFollowers},
		{name: "following", args: "--slug SLUG [flags]", summary: "list whom a coop follows, with the state of each follow", setup: setupFollowing},
		{name: "demo", args: "[--ports 8081,8082,8083]", summary: "run three nodes on 127.0.0.1 with sample coops that follow each other", setup: setupDemo},
		{name: "version", summary: "print coopnet's version", setup: setupVersion},
		{name: "help", args: "[COMMAND]", summary: "print this help, or one command's", setup: nil},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run is the whole program behind main, callable from tests: it returns the
// exit code and writes one line to stderr when it cannot do what was asked.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, &app{stdout: stdout, stderr: stderr, getenv: os.Getenv})
}

func runWith(ctx context.Context, args []string, a *app) int {
	name, rest, err := commandName(args)
	if err != nil {
		return fail(a, "coopnet", err)
	}
	if name == "help" {
		return help(a, rest)
	}
	cmd, ok := findCommand(name)
	if !ok {
		return fail(a, "coopnet", usageErrorf("unknown command %q (run coopnet help)", name))
	}
	f := newFlagSet(cmd.name)
	runCmd := cmd.setup(f)
	if err := f.parse(rest, a.getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(a.stdout, cmd)
			return exitOK
		}
		return fail(a, "coopnet "+cmd.name, err)
	}
	if err := runCmd(ctx, a); err != nil {
		return fail(a, "coopnet "+cmd.name, err)
	}
	return exitOK
}

// commandName reads the command, which is two words for `token create`.
func commandName(args []string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageErrorf("no command given (run coopnet help)")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		return "help", args[1:], nil
	case "token":
		if len(args) < 2 || args[1] != "create" {
			return "", nil, usageErrorf("token needs a subcommand: coopnet token create --slug SLUG --email EMAIL")
		}
		return "token create", args[2:], nil
	}
	return args[0], args[1:], nil
}

// usageError is a problem the operator must fix before the command can run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// runtimeError is a failure after the node had started: not the operator's
// input, so it gets exit code 1.
type runtimeError struct{ err error }

func (e *runtimeError) Error() string { return e.err.Error() }
func (e *runtimeError) Unwrap() error { return e.err }

// fail prints err as one line and returns the exit code for it. Errors from
// drivers may span lines; a log collector or a person reading a terminal
// should get exactly one.
func fail(a *app, prefix string, err error) int {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	fmt.Fprintf(a.stderr, "%s: %s\n", prefix, msg)
	var re *runtimeError
	if errors.As(err, &re) {
		return exitFailure
	}
	return exitUsage
}
