package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/coopnet/coopnet/internal/mail"
)

// option is one setting: a flag, the environment variable beside it and a
// default. A flag given on the command line wins over the environment, which
// wins over the default; an empty environment variable counts as unset, so that
// `COOPNET_X=` in a unit file does not silently replace a default with nothing.
type option struct {
	name    string // the flag, without dashes
	env     string
	def     string
	meta    string // the placeholder shown in help, such as ADDR
	usage   string
	value   string
	fromCLI bool
	fromEnv bool
}

// String and Set make an option a flag.Value.
func (o *option) String() string {
	if o == nil {
		return ""
	}
	return o.value
}

// Set records a value given on the command line.
func (o *option) Set(v string) error {
	o.value, o.fromCLI = v, true
	return nil
}

// origin names where the value came from, for error messages: the operator must
// know which of the flag, the variable or the default to fix.
func (o *option) origin() string {
	switch {
	case o.fromCLI:
		return "--" + o.name
	case o.fromEnv:
		return o.env
	default:
		return "--" + o.name + " (default)"
	}
}

// invalid is the error for an option whose value cannot be used.
func (o *option) invalid(format string, args ...any) error {
	return usageErrorf("invalid %s %q: %s", o.origin(), o.value, fmt.Sprintf(format, args...))
}

// flagSet is a command's flags; it keeps them in order for the help text.
type flagSet struct {
	fs   *flag.FlagSet
	opts []*option
	// positional names the one argument the command takes after its flags,
	// such as HANDLE_OR_URL; empty for commands that take none.
	positional string
	pos        []string
}

// arg returns the positional argument; parse has checked it is there.
func (f *flagSet) arg() string { return f.pos[0] }

func newFlagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print its own usage on every error; we print one
	// line instead, and the full help only when asked.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{fs: fs}
}

// add registers a flag and its environment variable.
func (f *flagSet) add(name, env, def, meta, usage string) *option {
	o := &option{name: name, env: env, def: def, meta: meta, usage: usage}
	f.fs.Var(o, name, usage)
	f.opts = append(f.opts, o)
	return o
}

// parse reads the command line, then fills every option not given there from
// the environment or its default. Commands take no positional argument but
// the one named by f.positional, which may come before or after the flags.
func (f *flagSet) parse(args []string, getenv func(string) string) error {
	// The flag package stops at the first argument that is not a flag; go on
	// past it, so that a positional argument may stand anywhere.
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageErrorf("%s (run coopnet help %s)", flagError(err), f.fs.Name())
		}
		if f.fs.NArg() == 0 {
			break
		}
		pos = append(pos, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
	switch {
	case f.positional == "" && len(pos) > 0:
		return usageErrorf("unexpected argument %q (every setting is a --flag)", pos[0])
	case f.positional != "" && len(pos) != 1:
		return usageErrorf("give exactly one %s (run coopnet help %s)", f.positional, f.fs.Name())
	}
	f.pos = pos
	for _, o := range f.opts {
		if o.fromCLI {
			continue
		}
		if v := getenv(o.env); v != "" && o.env != "" {
			o.value, o.fromEnv = v, true
			continue
		}
		o.value = o.def
	}
	return nil
}

// flagError rewords the flag package's errors, which name flags with one dash
// while coopnet's help shows two.
func flagError(err error) string {
	msg := err.Error()
	for _, p := range []struct{ from, to string }{
		{"flag provided but not defined: -", "unknown flag --"},
		{"flag needs an argument: -", "missing value for --"},
	} {
		if rest, ok := strings.CutPrefix(msg, p.from); ok {
			return p.to + rest
		}
	}
	return msg
}

// storageFlags are the flags every command that opens the database shares.
type storageFlags struct {
	dataDir, databaseURL, baseURL *option
}

func addStorageFlags(f *flagSet) storageFlags {
	return storageFlags{
		baseURL: f.add("base-url", "COOPNET_BASE_URL", "http://localhost:8080", "URL",
			"the node's public URL, fixed when the node is set up: ids of everything the node publishes are built from it"),
		dataDir: f.add("data-dir", "COOPNET_DATA_DIR", "./coopnet-data", "DIR",
			"directory for the node's files, including the SQLite database"),
		databaseURL: f.add("database-url", "COOPNET_DATABASE_URL", "", "URL",
			"postgres://user:password@host:5432/db to use PostgreSQL; empty means SQLite in the data directory"),
	}
}

// storage is the validated form of storageFlags.
type storage struct {
	baseURL     *url.URL
	dataDir     string
	databaseURL string
}

func (s storageFlags) validate() (storage, error) {
	base, err := parseBaseURL(s.baseURL)
	if err != nil {
		return storage{}, err
	}
	if s.dataDir.value == "" {
		return storage{}, s.dataDir.invalid("must not be empty")
	}
	if u := s.databaseURL.value; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "postgres" && pu.Scheme != "postgresql") {
			// Never echo the value: it may hold a password.
			return storage{}, usageErrorf("invalid %s: must be a postgres:// URL, or empty for SQLite in the data directory", s.databaseURL.origin())
		}
	}
	return storage{baseURL: base, dataDir: s.dataDir.value, databaseURL: s.databaseURL.value}, nil
}

// parseBaseURL checks the public URL and puts it in the one form that is stored
// and compared: lower-case scheme and host, no trailing slash.
func parseBaseURL(o *option) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(o.value))
	switch {
	case err != nil:
		return nil, o.invalid("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, o.invalid("must start with http:// or https://")
	case u.Host == "" || u.Hostname() == "":
		return nil, o.invalid("has no host")
	case u.User != nil:
		return nil, o.invalid("must not hold a user name or password")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, o.invalid("must not have a query or a fragment")
	case strings.Trim(u.Path, "/") != "":
		// Every route is served from the root; a path prefix would give links
		// and ids that the node does not answer.
		return nil, o.invalid("must be the root of a site, without a path")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, o.invalid("port must be a number from 1 to 65535")
		}
	}
	return &url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host)}, nil
}

// sameBaseURL compares a stored base URL with the configured one in the form
// parseBaseURL gives, so that a trailing slash or capitals make no difference.
func sameBaseURL(stored string, configured *url.URL) bool {
	o := &option{value: stored}
	u, err := parseBaseURL(o)
	return err == nil && u.String() == configured.String()
}

// checkListen checks a listen address before anything is opened, so that a
// typo gets a plain message rather than a socket error.
func checkListen(o *option) error {
	_, port, err := net.SplitHostPort(o.value)
	if err != nil {
		return o.invalid("must be HOST:PORT, such as 127.0.0.1:8080 or :8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return o.invalid("port must be a number from 0 to 65535")
	}
	return nil
}

// logFlags choose the format and level of the log.
type logFlags struct {
	format, level *option
}

func addLogFlags(f *flagSet) logFlags {
	return logFlags{
		format: f.add("log-format", "COOPNET_LOG_FORMAT", "text", "FORMAT", "text, for people, or json, for log collectors"),
		level:  f.add("log-level", "COOPNET_LOG_LEVEL", "info", "LEVEL", "debug, info, warn or error"),
	}
}

// logger builds the logger the flags ask for, writing to w.
func (l logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(l.level.value) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, l.level.invalid("must be debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format.value) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, l.format.invalid("must be text or json")
}

// positiveFloat reads a number option that must be above zero.
func positiveFloat(o *option) (float64, error) {
	v, err := strconv.ParseFloat(o.value, 64)
	if err != nil || v <= 0 || v != v {
		return 0, o.invalid("must be a number above zero")
	}
	return v, nil
}

// addAllowPrivateFlag registers --allow-private-addresses.
func addAllowPrivateFlag(f *flagSet) *option {
	return f.add("allow-private-addresses", "COOPNET_ALLOW_PRIVATE_ADDRESSES", "false", "BOOL",
		"let federation fetch from and deliver to loopback and private addresses: for tests and demos, never on a public node")
}

// mailFlags choose how notification e-mails are sent.
type mailFlags struct {
	smtpURL, from *option
}

func addMailFlags(f *flagSet) mailFlags {
	return mailFlags{
		smtpURL: f.add("smtp-url", "COOPNET_SMTP_URL", "", "URL",
			"SMTP relay for notification e-mails: smtp://user:pass@host:587 (STARTTLS, required), smtps://user:pass@host:465 (implicit TLS) or smtp://host:25?tls=none (no TLS); empty turns e-mail off"),
		from: f.add("mail-from", "COOPNET_MAIL_FROM", "", "ADDR",
			"sender address of notification e-mails; empty means coopnet@ and the host of --base-url"),
	}
}

// mailSettings is the validated form of mailFlags.
type mailSettings struct {
	smtpURL, from string
}

// validate checks the relay URL and the sender address by building the
// sender once, so that a mistake stops the start with the flag to fix.
func (m mailFlags) validate(base *url.URL) (mailSettings, error) {
	s := mailSettings{smtpURL: strings.TrimSpace(m.smtpURL.value), from: strings.TrimSpace(m.from.value)}
	if s.from == "" {
		s.from = "coopnet@" + base.Hostname()
	}
	_, err := mail.New(mail.Config{URL: s.smtpURL, From: s.from, Logger: discardLogger()})
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, mail.ErrInvalidMessage):
		return mailSettings{}, usageErrorf("invalid %s %q: not an e-mail address", m.from.origin(), s.from)
	}
	// mail's errors never repeat the URL, which may hold a password.
	return mailSettings{}, usageErrorf("invalid %s: %s", m.smtpURL.origin(), strings.TrimPrefix(err.Error(), "mail: "))
}

// boolOption reads a true/false option.
func boolOption(o *option) (bool, error) {
	v, err := strconv.ParseBool(strings.TrimSpace(o.value))
	if err != nil {
		return false, o.invalid("must be true or false")
	}
	return v, nil
}

// discardLogger is the logger of one-shot commands, whose output is their
// answer: what they log is not worth a line on the operator's terminal.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
