package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
)

const helpIntro = `coopnet runs a node of coopnet, the federated directory of worker cooperatives.

Usage:
  coopnet COMMAND [flags]

Every flag can also be set with the environment variable shown beside it. A flag
on the command line wins over the environment, which wins over the default.
Exit codes: 0 done, 2 a flag, value, database or port that cannot be used
(one line on stderr says which), 1 a failure while serving.
`

// help prints the help for every command, or for the one named.
func help(a *app, args []string) int {
	if len(args) > 0 {
		name := strings.Join(args, " ")
		cmd, ok := findCommand(name)
		if !ok || cmd.setup == nil {
			return fail(a, "coopnet help", usageErrorf("unknown command %q", name))
		}
		printCommandHelp(a.stdout, cmd)
		return exitOK
	}
	w := a.stdout
	fmt.Fprint(w, helpIntro)
	fmt.Fprintln(w, "\nCommands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	for _, c := range commands() {
		if c.setup != nil {
			fmt.Fprintln(w)
			printCommandHelp(w, c)
		}
	}
	return exitOK
}

// printCommandHelp prints a command's synopsis and every flag with its
// environment variable and default, from the same definitions parse uses, so
// the help cannot drift from what the command accepts.
func printCommandHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "%s\n  %s\n", strings.TrimSpace("coopnet "+c.name+" "+c.args), c.summary)
	f := newFlagSet(c.name)
	c.setup(f)
	if c.name == "init" {
		fmt.Fprintln(w, "  The admin's password is read from --admin-password-file, or else from the\n  environment variable COOPNET_ADMIN_PASSWORD (never from the command line).")
	}
	if len(f.opts) == 0 {
		return
	}
	fmt.Fprintln(w, "Flags:")
	for _, o := range f.opts {
		def := o.def
		if def == "" || strings.ContainsRune(def, ' ') {
			def = strconv.Quote(def)
		}
		fmt.Fprintf(w, "  --%s %s\n      %s\n      env %s, default %s\n", o.name, o.meta, o.usage, o.env, def)
	}
}

// version is the module version the binary was built from (set by `go install
// ...@version`), or "dev" for a build from a work tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}

func setupVersion(*flagSet) func(context.Context, *app) error {
	return func(_ context.Context, a *app) error {
		_, err := fmt.Fprintf(a.stdout, "coopnet %s (%s)\n", version(), runtime.Version())
		return err
	}
}
