// Package node wires one coopnet node: the directory store, federation and the
// web server over an open database. `coopnet serve`, `coopnet demo` and the
// multi-node tests all build their nodes here, so that they run the same code.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/mail"
	"github.com/coopnet/coopnet/referrals"
	"github.com/coopnet/coopnet/web"
)

// Config is what a node needs besides its database.
type Config struct {
	// BaseURL is the node's public URL, fixed at setup.
	BaseURL *url.URL
	Logger  *slog.Logger
	// LoginAttemptsPerMinute limits login attempts per client address.
	LoginAttemptsPerMinute float64
	// AllowPrivateAddresses lets federation reach loopback and private
	// addresses (tests and the demo).
	AllowPrivateAddresses bool
	// BcryptCost is the cost of password hashes; 0 means bcrypt's default.
	BcryptCost int
	// Version is reported by NodeInfo and in the User-Agent.
	Version string
	// SMTPURL is the relay notifications go through (see mail.Config.URL);
	// empty turns mail off: notifications show only in the web UI.
	SMTPURL string
	// MailFrom is the sender of notifications; empty means "coopnet@" and
	// the host of BaseURL.
	MailFrom string
	// ContactRetention is how long after a request closes its client's
	// contact details are kept; 0 means DefaultContactRetention.
	ContactRetention time.Duration
	// HopLimit is how many times a request from a client here may be
	// referred on; 0 means referrals' default.
	HopLimit int
	// WorkRequestsPerHour limits work requests per client address; 0 means
	// web's default.
	WorkRequestsPerHour float64
}

// Timeouts of the HTTP server. A slow or stalled client must not hold a
// connection (and a goroutine) for ever; the limits are well above what a
// person on a slow phone connection needs for a page or a logo upload.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// Node is one running coopnet node.
type Node struct {
	DB         *db.DB
	Store      *directory.Store
	Directory  *directory.Directory
	Referrals  *referrals.Store
	Federation *federation.Federation
	// Mail sends notifications; Mail.Enabled() is false when mail is off.
	Mail    *mail.Sender
	Handler http.Handler
	log     *slog.Logger
	// retention is how long contact details outlive a closed request.
	retention time.Duration
}

// New wires a node over d, whose schema is up to date.
func New(d *db.DB, cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	store := directory.NewStore(d, cfg.BcryptCost)
	refs := referrals.NewStore(d, referrals.NewKeys(d), referrals.Config{HopLimit: cfg.HopLimit})
	sender, err := newMailSender(cfg)
	if err != nil {
		return nil, err
	}
	var workers []func(*river.Workers) error
	if sender.Enabled() {
		workers = append(workers, sender.Register)
	}
	fed, err := federation.New(federation.Config{
		DB: d, Directory: store, Referrals: refs, BaseURL: cfg.BaseURL, Logger: cfg.Logger,
		AllowPrivateAddresses: cfg.AllowPrivateAddresses, Version: cfg.Version,
		Workers: workers,
	})
	if err != nil {
		return nil, err
	}
	if sender.Enabled() {
		notifier := referrals.NewNotifier(refs, referrals.NotifierConfig{Mailer: sender, Queue: fed, Mailings: store,
			BaseURL: cfg.BaseURL, Logger: cfg.Logger})
		refs.OnChange(notifier.Notify)
	}
	dir := directory.NewDirectory(store)
	dir.Logger = cfg.Logger
	handler, err := web.New(web.Config{
		BaseURL: cfg.BaseURL, Store: store, Directory: dir, Referrals: refs, Federation: fed, Logger: cfg.Logger,
		LoginAttemptsPerMinute: cfg.LoginAttemptsPerMinute, WorkRequestsPerHour: cfg.WorkRequestsPerHour,
	})
	if err != nil {
		return nil, fmt.Errorf("node: web: %w", err)
	}
	retention := cfg.ContactRetention
	if retention <= 0 {
		retention = DefaultContactRetention
	}
	return &Node{DB: d, Store: store, Directory: dir, Referrals: refs, Federation: fed, Mail: sender, Handler: handler,
		log: cfg.Logger, retention: retention}, nil
}

// newMailSender builds the notification sender from cfg.
func newMailSender(cfg Config) (*mail.Sender, error) {
	from := cfg.MailFrom
	if from == "" && cfg.BaseURL != nil {
		from = "coopnet@" + cfg.BaseURL.Hostname()
	}
	s, err := mail.New(mail.Config{URL: cfg.SMTPURL, From: from, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return s, nil
}

// Serve serves on ln and runs the delivery workers and the hourly purge of
// contact details (purge.go) until ctx ends, then shuts down gracefully,
// waiting up to grace for requests and deliveries in flight.
func (n *Node) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           n.Handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	fresh := trackFreshConns(srv)
	if err := n.Directory.Start(ctx); err != nil {
		return fmt.Errorf("node: build the directory index: %w", err)
	}
	if err := n.Federation.Start(ctx); err != nil {
		return fmt.Errorf("node: start deliveries: %w", err)
	}
	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		n.purgeLoop(purgeCtx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var err error
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(sctx) }()
	fresh.closeAll()
	stopPurge()
	<-purged
	if e := <-shutdown; e != nil {
		err = fmt.Errorf("node: shut the web server down: %w", e)
	}
	if e := n.Federation.Stop(sctx); e != nil {
		err = errors.Join(err, fmt.Errorf("node: stop deliveries: %w", e))
	}
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, err)
}

// freshConns are connections accepted that have not sent a request yet.
// Shutdown waits for them as if busy for up to 5 seconds (net/http counts
// them idle only after that), although no request is in flight: peers'
// HTTP clients open such connections ahead of need. They are closed at once.
type freshConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func trackFreshConns(srv *http.Server) *freshConns {
	f := &freshConns{conns: map[net.Conn]struct{}{}}
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if s == http.StateNew {
			f.conns[c] = struct{}{}
		} else {
			delete(f.conns, c)
		}
	}
	return f
}

func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
}
