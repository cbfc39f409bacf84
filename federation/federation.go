package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/referrals"
)

// Config is what federation needs; cmd/coopnet fills it.
type Config struct {
	DB        *db.DB
	Directory *directory.Store
	// Referrals holds work requests and the referrals sent as Offers.
	Referrals *referrals.Store
	// BaseURL is the node's public URL, fixed at setup: every id is made of it.
	BaseURL *url.URL
	Logger  *slog.Logger
	// AllowPrivateAddresses lets the node fetch from and deliver to loopback
	// and private addresses: for tests and `coopnet demo`, never in production.
	AllowPrivateAddresses bool
	// Version is the software version NodeInfo reports.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Workers register extra River workers (such as mail's) on the
	// delivery queue's client, so that other packages' jobs commit with
	// their changes through InsertJobTx. Their jobs run on River's default
	// queue, a few at a time. Each func may be called more than once.
	Workers []func(*river.Workers) error
}

// Federation is the node's ActivityPub side.
type Federation struct {
	cfg     Config
	db      *db.DB
	dir     *directory.Store
	urls    URLs
	keys    *Keys
	log     *slog.Logger
	client  *http.Client
	queue   *queue
	policy  policyCache
	fresh   *refresher // freshness.go, discovery.go
	signers *keyCache
	refs    *referralFed // referrals*.go; nil without Config.Referrals
}

// New wires federation. It registers the hook through which the directory
// tells it of changes to publish; call Start to run deliveries.
func New(cfg Config) (*Federation, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	f := &Federation{
		cfg:     cfg,
		db:      cfg.DB,
		signers: newKeyCache(),
		dir:     cfg.Directory,
		urls:    URLs{Base: cfg.BaseURL},
		keys:    NewKeys(cfg.DB),
		log:     cfg.Logger.With("component", "federation"),
		client:  NewClient(cfg.AllowPrivateAddresses),
	}
	q, err := newQueue(f)
	if err != nil {
		return nil, fmt.Errorf("federation: queue: %w", err)
	}
	f.queue = q
	f.fresh = newRefresher(f)
	f.refs = newReferralFed(f)
	cfg.Directory.OnChange(f.publishChange)
	return f, nil
}

// Register adds the federation routes: WebFinger, NodeInfo, host-meta,
// collections, inboxes and the instance actor. The coop actor and service
// objects share their URLs with HTML pages: the web package hands those
// requests over with ServeActor and ServeService.
func (f *Federation) Register(e *echo.Echo) {
	f.registerRead(e)
	f.registerInbox(e)
}

// Start runs the delivery workers, and the refresh of peers' coops and of
// suggestions (freshness.go), until ctx ends or Stop is called.
func (f *Federation) Start(ctx context.Context) error {
	if err := f.queue.start(ctx); err != nil {
		return err
	}
	f.fresh.start(ctx)
	return nil
}

// Stop ends the refresh and waits for deliveries in progress to finish, up
// to ctx's deadline.
func (f *Federation) Stop(ctx context.Context) error {
	return errors.Join(f.fresh.stop(ctx), f.queue.stop(ctx))
}

// publishChange is the directory's change hook: it turns a change to a local
// coop into an activity in its outbox, delivered to its followers.
func (f *Federation) publishChange(ctx context.Context, tx *sql.Tx, ch directory.Change) error {
	return f.publish(ctx, tx, ch)
}
