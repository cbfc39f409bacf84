package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/node"
)

// shutdownTimeout bounds the wait for requests and deliveries in flight after
// SIGINT or SIGTERM; service managers kill after about 90 s anyway.
const shutdownTimeout = 20 * time.Second

// serveConfig is the validated configuration of `coopnet serve`.
type serveConfig struct {
	storage
	listen        string
	loginAttempts float64
	allowPrivate  bool
	mail          mailSettings
	referrals     referralSettings
	log           *slog.Logger
}

func setupServe(f *flagSet) func(context.Context, *app) error {
	listen := f.add("listen", "COOPNET_LISTEN", "127.0.0.1:8080", "ADDR",
		"address and port to listen on; 0.0.0.0:8080 or :8080 listens on every interface")
	st := addStorageFlags(f)
	lf := addLogFlags(f)
	logins := f.add("login-attempts-per-minute", "COOPNET_LOGIN_ATTEMPTS_PER_MINUTE", "10", "N",
		"login and setup attempts allowed per client address and minute")
	private := addAllowPrivateFlag(f)
	mf := addMailFlags(f)
	rf := addReferralFlags(f)
	return func(ctx context.Context, a *app) error {
		cfg, err := serveConfigFrom(a, listen, st, lf, logins)
		if err != nil {
			return err
		}
		if cfg.allowPrivate, err = boolOption(private); err != nil {
			return err
		}
		if cfg.mail, err = mf.validate(cfg.baseURL); err != nil {
			return err
		}
		if cfg.referrals, err = rf.validate(); err != nil {
			return err
		}
		return serve(ctx, cfg)
	}
}

func serveConfigFrom(a *app, listen *option, st storageFlags, lf logFlags, logins *option) (serveConfig, error) {
	s, err := st.validate()
	if err != nil {
		return serveConfig{}, err
	}
	if err := checkListen(listen); err != nil {
		return serveConfig{}, err
	}
	log, err := lf.logger(a.stderr)
	if err != nil {
		return serveConfig{}, err
	}
	n, err := positiveFloat(logins)
	if err != nil {
		return serveConfig{}, err
	}
	return serveConfig{storage: s, listen: listen.value, loginAttempts: n, log: log}, nil
}

// serve runs the node until ctx is cancelled. It takes the port first, so that
// a taken port is reported before any database work, and logs "serving" only
// once the node can answer.
func serve(ctx context.Context, cfg serveConfig) error {
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.listen)
	if err != nil {
		return usageErrorf("cannot listen on %s: %v", cfg.listen, innerError(err))
	}
	defer ln.Close() // a no-op once the server has closed it

	d, applied, err := openDatabase(ctx, cfg.storage)
	if err != nil {
		return err
	}
	defer d.Close()
	if len(applied) > 0 {
		cfg.log.Info("database schema migrated", "database", string(d.Dialect()), "applied", applied)
	}
	setMemoryLimit(cfg.log)
	n, err := node.New(d, node.Config{
		BaseURL: cfg.baseURL, Logger: cfg.log, LoginAttemptsPerMinute: cfg.loginAttempts,
		AllowPrivateAddresses: cfg.allowPrivate, Version: version(),
		SMTPURL: cfg.mail.smtpURL, MailFrom: cfg.mail.from,
		ContactRetention: cfg.referrals.retention, HopLimit: cfg.referrals.hopLimit,
		WorkRequestsPerHour: cfg.referrals.perHour,
	})
	if err != nil {
		return fmt.Errorf("start the node: %w", err)
	}
	if n.Mail.Enabled() {
		cfg.log.Info("mail via smtp", "relay", n.Mail.Relay(), "tls", n.Mail.TLS(), "from", n.Mail.From())
	} else {
		cfg.log.Info("mail is off: notifications show only in the web UI; set --smtp-url to send e-mail")
	}
	cfg.log.Info("client contact details are deleted once a work request has been closed this long",
		"retention_days", cfg.referrals.retentionDays)
	cfg.log.Info("work request limits", "hop_limit", cfg.referrals.hopLimit,
		"work_requests_per_hour", cfg.referrals.perHour)
	if cfg.allowPrivate {
		cfg.log.Warn("federation may reach private and loopback addresses (--allow-private-addresses): for tests and demos only")
	}
	cfg.log.Info("coopnet is serving", "url", cfg.baseURL.String(), "listen", ln.Addr().String(),
		"database", string(d.Dialect()), "version", version())
	if err := n.Serve(ctx, ln, shutdownTimeout); err != nil {
		return &runtimeError{fmt.Errorf("serve: %w", err)}
	}
	cfg.log.Info("stopped")
	return nil
}

// defaultMemoryLimit is the node's soft memory limit when the operator set
// none. Go collects garbage when the heap has doubled since the last
// collection (GOGC=100), so a node holding a large directory idles at twice
// its live heap: with 10,000 coops and 100,000 services (85-100 MB live)
// that was 185-200 MB of RSS, and 240-250 MB while serving searches. Under
// this limit the collector runs sooner instead, which keeps such a node at
// 175-185 MB; under heavy search load it then collects three to four times
// as often, for about an eighth more CPU a search (BENCHMARKS.md, coopbench
// search). Small nodes (30 MB) never come near the limit, so nothing changes
// for them. The limit is soft: allocation never fails because of it, and
// should the live heap itself approach it, the runtime caps the collector at
// about half the CPU and lets the heap grow; such a node needs a higher
// GOMEMLIMIT (or GOMEMLIMIT=off).
const defaultMemoryLimit = 160 << 20

// setMemoryLimit applies defaultMemoryLimit unless GOMEMLIMIT is set, and
// logs the limit in force.
func setMemoryLimit(log *slog.Logger) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", env)
		return
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	log.Info("soft memory limit; set GOMEMLIMIT to change it", "limit_mib", defaultMemoryLimit>>20)
}

// openTimeout bounds opening the database: a PostgreSQL host that drops
// packets would otherwise keep the command waiting with no word.
const openTimeout = 15 * time.Second

// openDatabase opens the database, applies the migrations it lacks and checks
// that the node was set up with this base URL. It returns the migrations it
// applied.
func openDatabase(ctx context.Context, s storage) (*db.DB, []string, error) {
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	d, err := db.Open(octx, s.databaseURL, s.dataDir)
	if err != nil {
		return nil, nil, usageErrorf("cannot open the database: %v", err)
	}
	applied, err := applyMigrations(ctx, d)
	if err == nil {
		err = checkBaseURL(ctx, d, s.baseURL)
	}
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, applied, nil
}

// checkBaseURL refuses a base URL other than the one the node was set up with.
// ActivityPub ids, profile links and tokens handed to peers are built from it:
// serving under another URL would orphan every id already published.
func checkBaseURL(ctx context.Context, d *db.DB, configured *url.URL) error {
	stored, ok, err := d.Setting(ctx, directory.SettingBaseURL)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	if sameBaseURL(stored, configured) {
		return nil
	}
	return usageErrorf("this node was set up with the base URL %s, not %s: the ids of everything it publishes are built from that URL, so it cannot change; start with --base-url %s (or COOPNET_BASE_URL)",
		stored, configured, stored)
}

// innerError drops the operation and address that net errors repeat, since the
// message around it already names them.
func innerError(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}
