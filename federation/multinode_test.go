package federation_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"log/slog"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/node"
	"github.com/coopnet/coopnet/internal/testdb"
	"golang.org/x/crypto/bcrypt"
)

// Multi-node tests: real nodes (store, federation, web, delivery queue) on
// 127.0.0.1, talking real HTTP with signatures, on SQLite and on PostgreSQL.

// peerNode is one running node of a test network.
type peerNode struct {
	t      *testing.T
	db     *db.DB
	n      *node.Node
	base   *url.URL
	addr   string
	coop   directory.Coop
	cancel context.CancelFunc
	done   chan error
}

// newPeer sets up a node with one coop, listening on a free loopback port,
// and starts it.
func newPeer(t *testing.T, d *db.DB, slug string) *peerNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://" + ln.Addr().String())
	p := &peerNode{t: t, db: d, base: base, addr: ln.Addr().String()}
	store := directory.NewStore(d, bcrypt.MinCost)
	p.coop, _, err = store.Setup(context.Background(), directory.SetupInput{
		CoopName: "Coop " + slug, Slug: slug, AdminEmail: "admin@" + slug + ".example", Password: "correct horse battery",
	}, base.String())
	if err != nil {
		t.Fatal(err)
	}
	p.start(ln)
	t.Cleanup(p.stop)
	return p
}

// start wires the node anew over its database and serves on ln, as a fresh
// process would.
func (p *peerNode) start(ln net.Listener) {
	p.t.Helper()
	n, err := node.New(p.db, node.Config{BaseURL: p.base, AllowPrivateAddresses: true, BcryptCost: bcrypt.MinCost,
		Logger: slog.New(slog.DiscardHandler), LoginAttemptsPerMinute: 100})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := federation.SetRetryUnit(n.Federation, time.Millisecond); err != nil {
		p.t.Fatal(err)
	}
	p.n = n
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- n.Serve(ctx, ln, 5*time.Second) }()
}

// stop shuts the node down, as a process that exits.
func (p *peerNode) stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	if err := <-p.done; err != nil {
		p.t.Errorf("node %s: %v", p.addr, err)
	}
	p.cancel = nil
}

// restart starts the node again on its own address.
func (p *peerNode) restart() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.start(ln)
}

func (p *peerNode) handle() string { return p.coop.Slug + "@" + p.addr }

func (p *peerNode) actor() string { return p.base.String() + "/coops/" + p.coop.Slug }

// eventually waits for cond, checking it every few milliseconds for at most
// 20 seconds: deliveries are asynchronous, and this awaits their effect.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func followState(t *testing.T, list []federation.Follow, err error, actor string) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list {
		if f.ActorID == actor {
			return f.State
		}
	}
	return ""
}

func (p *peerNode) followingState(actor string) string {
	l, err := p.n.Federation.Following(context.Background(), p.coop.ID)
	return followState(p.t, l, err, actor)
}

func (p *peerNode) followerState(actor string) string {
	l, err := p.n.Federation.Followers(context.Background(), p.coop.ID)
	return followState(p.t, l, err, actor)
}

// known returns what p's directory knows of the coop of peer, if anything.
func (p *peerNode) known(peer *peerNode) (directory.KnownCoop, bool) {
	c, err := p.n.Store.RemoteCoopByActor(context.Background(), peer.actor())
	if errors.Is(err, directory.ErrNotFound) {
		return directory.KnownCoop{}, false
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return c, true
}

func (p *peerNode) remoteServices(peer *peerNode) []directory.RemoteService {
	c, ok := p.known(peer)
	if !ok {
		return nil
	}
	list, err := p.n.Store.ListRemoteServices(context.Background(), c.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	return list
}

var dialects = []struct {
	name string
	open func(testing.TB) *db.DB
}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}}

func eachDialect(t *testing.T, fn func(t *testing.T, open func(testing.TB) *db.DB)) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) { fn(t, d.open) })
	}
}

func TestNetworkFollowAndPublish(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		svc, err := b.n.Store.CreateService(ctx, b.coop.ID, directory.Service{Title: "Green hosting", Category: "hosting", Pricing: "fixed", Active: true})
		if err != nil {
			t.Fatal(err)
		}

		if err := a.n.Federation.Follow(ctx, a.coop.ID, b.handle()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B accepts A's follow", func() bool { return a.followingState(b.actor()) == "accepted" })
		if got := b.followerState(a.actor()); got != "accepted" {
			t.Fatalf("B's follower state %q", got)
		}
		eventually(t, "A learns B and its services", func() bool { return len(a.remoteServices(b)) == 1 })

		b.coop.City, b.coop.Country = "Leeds", "GB"
		if _, err := b.n.Store.UpdateCoop(ctx, b.coop); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's profile change reaches A", func() bool { c, _ := a.known(b); return c.City == "Leeds" })

		if _, err := b.n.Store.CreateService(ctx, b.coop.ID, directory.Service{Title: "IT support", Category: "it-support", Pricing: "hourly", Active: true}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's new service reaches A", func() bool { return len(a.remoteServices(b)) == 2 })
		if err := b.n.Store.DeleteService(ctx, b.coop.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B's deleted service disappears at A", func() bool {
			l := a.remoteServices(b)
			return len(l) == 1 && l[0].Title == "IT support"
		})

		if err := a.n.Federation.Unfollow(ctx, a.coop.ID, b.actor()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B drops A as a follower", func() bool { return b.followerState(a.actor()) == "" })
	})
}

func TestNetworkManualApproval(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b, c := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta"), newPeer(t, open(t), "gamma")
		b.coop.ApproveFollowers = true
		if _, err := b.n.Store.UpdateCoop(ctx, b.coop); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*peerNode{a, c} {
			if err := p.n.Federation.Follow(ctx, p.coop.ID, b.handle()); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "both requests wait at B", func() bool {
			return b.followerState(a.actor()) == "pending" && b.followerState(c.actor()) == "pending"
		})
		if got := a.followingState(b.actor()); got != "pending" {
			t.Fatalf("A's side: %q", got)
		}
		if err := b.n.Federation.ApproveFollower(ctx, b.coop.ID, a.actor()); err != nil {
			t.Fatal(err)
		}
		if err := b.n.Federation.RejectFollower(ctx, b.coop.ID, c.actor()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A is accepted", func() bool { return a.followingState(b.actor()) == "accepted" })
		eventually(t, "C is rejected", func() bool { return c.followingState(b.actor()) == "rejected" })
		if got := b.followerState(c.actor()); got != "" {
			t.Fatalf("rejected follower still listed as %q", got)
		}

		// Removing a follower tells it.
		if err := b.n.Federation.RemoveFollower(ctx, b.coop.ID, a.actor()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A learns it was removed", func() bool { return a.followingState(b.actor()) != "accepted" })
		eventually(t, "A forgets B's coop, whose changes no longer reach it", func() bool { _, known := a.known(b); return !known })
	})
}

func TestNetworkPeerDownAndRestarts(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		if err := a.n.Federation.Follow(ctx, a.coop.ID, b.handle()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B accepts", func() bool { return a.followingState(b.actor()) == "accepted" })

		// A is down while B changes its profile: the delivery waits.
		a.stop()
		b.coop.City = "Bristol"
		if _, err := b.n.Store.UpdateCoop(ctx, b.coop); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B records a failed attempt", func() bool {
			ds, err := b.n.Federation.Deliveries(ctx, federation.DeliveryFilter{})
			return err == nil && len(ds) > 0 && ds[0].Attempt > 0
		})
		a.restart()
		eventually(t, "the update reaches A once it is back", func() bool { c, _ := a.known(b); return c.City == "Bristol" })

		// B stops with a delivery queued, and delivers it after a restart.
		b.stop()
		b.coop.City = "Bath"
		if _, err := b.n.Store.UpdateCoop(ctx, b.coop); err != nil {
			t.Fatal(err)
		}
		b.restart()
		eventually(t, "the queued update reaches A after B restarts", func() bool { c, _ := a.known(b); return c.City == "Bath" })
	})
}

func TestNetworkBlockedHost(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		if err := b.n.Federation.BlockHost(ctx, a.addr, "test"); err != nil {
			t.Fatal(err)
		}
		// A's Follow reaches B, which refuses it: B has no follower, A no acceptance.
		if err := a.n.Federation.Follow(ctx, a.coop.ID, b.handle()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A's delivery to B is given up", func() bool {
			ds, err := a.n.Federation.Deliveries(ctx, federation.DeliveryFilter{State: federation.DeliveryFailed})
			return err == nil && len(ds) == 1
		})
		if got := b.followerState(a.actor()); got != "" {
			t.Fatalf("blocked host became a follower (%q)", got)
		}
	})
}
