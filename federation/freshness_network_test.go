package federation_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
)

// follows makes p follow peer and waits until p has learned peer's coop.
func (p *peerNode) follows(peer *peerNode) {
	p.t.Helper()
	if err := p.n.Federation.Follow(context.Background(), p.coop.ID, peer.handle()); err != nil {
		p.t.Fatal(err)
	}
	eventually(p.t, p.coop.Slug+" follows "+peer.coop.Slug, func() bool {
		_, known := p.known(peer)
		return p.followingState(peer.actor()) == "accepted" && known
	})
}

// age makes p's copy of peer's coop look fetched eight days ago.
func (p *peerNode) age(peer *peerNode) {
	p.t.Helper()
	if _, err := p.db.Exec(context.Background(), `UPDATE coops SET fetched_at = $1 WHERE actor_id = $2`,
		time.Now().Add(-8*24*time.Hour).UTC(), peer.actor()); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peerNode) refresh(want federation.RefreshReport) {
	p.t.Helper()
	got, err := p.n.Federation.RefreshStale(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	if got != want {
		p.t.Fatalf("RefreshStale: %+v, want %+v", got, want)
	}
}

func (p *peerNode) unreachableSince(peer *peerNode) sql.NullTime {
	p.t.Helper()
	var since sql.NullTime
	if err := p.db.QueryRow(context.Background(), `SELECT unreachable_since FROM coops WHERE actor_id = $1`,
		peer.actor()).Scan(&since); err != nil {
		p.t.Fatal(err)
	}
	return since
}

func TestNetworkRefreshMissedUpdate(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		a.follows(b)

		// B's profile changes without an Update (written behind the
		// store's back): A's copy is stale until it refetches.
		if _, err := b.db.Exec(context.Background(), `UPDATE coops SET city = 'Ghent', country = 'BE' WHERE id = $1`, b.coop.ID); err != nil {
			t.Fatal(err)
		}
		a.refresh(federation.RefreshReport{}) // fetched a moment ago: not stale
		if c, _ := a.known(b); c.City == "Ghent" {
			t.Fatal("refetched a fresh coop")
		}
		a.age(b)
		a.refresh(federation.RefreshReport{Refreshed: 1})
		if c, _ := a.known(b); c.City != "Ghent" || c.Country != "BE" || time.Since(c.FetchedAt) > time.Minute {
			t.Fatalf("after the refetch A knows %+v", c)
		}
	})
}

func TestNetworkRefreshStoppedPeer(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		a.follows(b)

		b.stop()
		a.age(b)
		a.refresh(federation.RefreshReport{Unreachable: 1})
		if since := a.unreachableSince(b); !since.Valid || time.Since(since.Time) > time.Minute {
			t.Fatalf("unreachable_since %v, want about now", since)
		}
		if _, known := a.known(b); !known {
			t.Fatal("an unreachable coop was dropped")
		}

		b.restart()
		a.refresh(federation.RefreshReport{Refreshed: 1})
		if since := a.unreachableSince(b); since.Valid {
			t.Fatalf("unreachable_since %v after B came back", since.Time)
		}
	})
}
