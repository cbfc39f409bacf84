package federation

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// newStatusPeer is a fakePeer (an httptest server on 127.0.0.1) whose actor
// URL answers the status stored in status instead of the document while
// that is not 0.
func newStatusPeer(t *testing.T, slug string) (*fakePeer, *atomic.Int32) {
	t.Helper()
	p := &fakePeer{t: t, slug: slug, key: peerKey(t)}
	status := &atomic.Int32{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := status.Load(); s != 0 && r.URL.Path == "/coops/"+slug {
			w.Header().Set("Content-Type", "application/activity+json")
			w.WriteHeader(int(s))
			fmt.Fprintf(w, `{"id": %q, "type": "Tombstone"}`, p.actorID())
			return
		}
		p.serve(w, r)
	}))
	t.Cleanup(p.srv.Close)
	for i := 1; i <= 3; i++ {
		p.services = append(p.services, p.service(i, fmt.Sprintf("Service %d", i)))
	}
	return p, status
}

// ageCoop makes the peer's coop look fetched age ago, and returns its
// unreachable_since.
func ageCoop(t *testing.T, n *inNode, actorID string, age time.Duration) {
	t.Helper()
	if _, err := n.d.Exec(context.Background(), `UPDATE coops SET fetched_at = $1 WHERE actor_id = $2`,
		time.Now().Add(-age).UTC(), actorID); err != nil {
		t.Fatal(err)
	}
}

func unreachableSince(t *testing.T, d *db.DB, actorID string) (since sql.NullTime, known bool) {
	t.Helper()
	err := d.QueryRow(context.Background(), `SELECT unreachable_since FROM coops WHERE actor_id = $1`, actorID).Scan(&since)
	if err == sql.ErrNoRows {
		return since, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return since, true
}

func refresh(t *testing.T, n *inNode, want RefreshReport) {
	t.Helper()
	got, err := n.f.RefreshStale(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("RefreshStale: %+v, want %+v", got, want)
	}
}

func TestRefreshStaleRefetchesChangedPeer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer, _ := newStatusPeer(t, "beta")
		followAccepted(t, n, peer)

		// Fresh: nothing to do.
		refresh(t, n, RefreshReport{})

		// The peer changed its name and dropped a service without telling.
		peer.mu.Lock()
		peer.actorTweak = func(doc map[string]any) { doc["name"] = "Beta Builders Coop" }
		peer.services = peer.services[:2]
		peer.mu.Unlock()
		ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
		refresh(t, n, RefreshReport{Refreshed: 1})
		coop, err := n.store.RemoteCoopByActor(context.Background(), peer.actorID())
		if err != nil || coop.Name != "Beta Builders Coop" || time.Since(coop.FetchedAt) > time.Minute {
			t.Fatalf("coop after refresh: %+v, %v", coop, err)
		}
		if svcs := remoteServices(t, n, coop.ID); len(svcs) != 2 {
			t.Fatalf("%d services after refresh, want 2", len(svcs))
		}
		refresh(t, n, RefreshReport{}) // fresh again
	})
}

func TestRefreshStaleAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int32
		tweak  func(doc map[string]any)
		// unreachableFor: the coop was already unreachable that long.
		unreachableFor time.Duration
		want           RefreshReport
		gone           bool
	}{
		{name: "500 is unreachable", status: 500, want: RefreshReport{Unreachable: 1}},
		{name: "429 is unreachable", status: 429, want: RefreshReport{Unreachable: 1}},
		{name: "403 is unreachable", status: 403, want: RefreshReport{Unreachable: 1}},
		{name: "410 is gone", status: 410, want: RefreshReport{Gone: 1}, gone: true},
		{name: "a Tombstone is gone", tweak: func(doc map[string]any) { doc["type"] = "Tombstone" }, want: RefreshReport{Gone: 1}, gone: true},
		{name: "a first 404 is unreachable", status: 404, want: RefreshReport{Unreachable: 1}},
		{name: "a lasting 404 is gone", status: 404, unreachableFor: 25 * time.Hour, want: RefreshReport{Gone: 1}, gone: true},
		{name: "no longer a coop", tweak: func(doc map[string]any) { doc["type"] = "Person" }, want: RefreshReport{Refreshed: 1}, gone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, d *db.DB) {
				ctx := context.Background()
				n := newInNode(t, d)
				peer, status := newStatusPeer(t, "beta")
				followAccepted(t, n, peer)
				ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
				if tc.unreachableFor > 0 {
					if _, err := d.Exec(ctx, `UPDATE coops SET unreachable_since = $1 WHERE actor_id = $2`,
						time.Now().Add(-tc.unreachableFor).UTC(), peer.actorID()); err != nil {
						t.Fatal(err)
					}
				}
				status.Store(tc.status)
				peer.mu.Lock()
				peer.actorTweak = tc.tweak
				peer.mu.Unlock()
				before := time.Now()

				refresh(t, n, tc.want)
				since, known := unreachableSince(t, d, peer.actorID())
				if known == tc.gone {
					t.Fatalf("coop known: %v, want %v", known, !tc.gone)
				}
				following := n.count(t, `SELECT COUNT(*) FROM following WHERE actor_id = $1`, peer.actorID())
				if tc.want.Gone > 0 {
					if following != 0 || n.count(t, `SELECT COUNT(*) FROM remote_actors WHERE id = $1`, peer.actorID()) != 0 {
						t.Fatal("a gone actor's follow or cached actor is left")
					}
					return
				}
				if following != 1 {
					t.Fatalf("%d follow rows, want the follow kept", following)
				}
				if tc.want.Unreachable == 0 {
					return
				}
				if tc.unreachableFor == 0 && (!since.Valid || since.Time.Before(before.Add(-time.Second))) {
					t.Fatalf("unreachable_since %v, want about now", since)
				}
				// A second failure keeps the first time.
				refresh(t, n, tc.want)
				if again, _ := unreachableSince(t, d, peer.actorID()); !again.Time.Equal(since.Time) {
					t.Fatalf("unreachable_since moved from %v to %v", since.Time, again.Time)
				}

				// Back: after sitting out the round that follows a second
				// failure, refreshed, and reachable again.
				status.Store(0)
				refresh(t, n, RefreshReport{Deferred: 1})
				refresh(t, n, RefreshReport{Refreshed: 1})
				if since, _ := unreachableSince(t, d, peer.actorID()); since.Valid {
					t.Fatalf("unreachable_since %v after a success", since.Time)
				}
			})
		})
	}
}

// A host that keeps failing sits out rounds (1, 3, 7 ...), so that dead
// peers do not take the batch from live ones; its first failure is tried
// again at the next round.
func TestRefreshStaleFailingHostSitsOut(t *testing.T) {
	n := newInNode(t, testdb.SQLite(t))
	peer, status := newStatusPeer(t, "beta")
	followAccepted(t, n, peer)
	ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
	status.Store(503)
	var got []RefreshReport
	for range 7 {
		rep, err := n.f.RefreshStale(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rep)
	}
	u, s := RefreshReport{Unreachable: 1}, RefreshReport{Deferred: 1}
	want := []RefreshReport{u, u, s, u, s, s, s}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rounds %v, want %v", got, want)
	}
}

func TestRefreshStaleRateAndBatch(t *testing.T) {
	n := newInNode(t, testdb.SQLite(t))
	peer, _ := newStatusPeer(t, "beta")
	followAccepted(t, n, peer)
	ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
	// Room for one refetch (3 fetches) a minute: the followAccepted fetches
	// above went through fetchSigned, not the rate.
	n.f.ConfigureFreshness(FreshnessOptions{PerHostPerMinute: fetchesPerRefresh})
	refresh(t, n, RefreshReport{Refreshed: 1})
	ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
	refresh(t, n, RefreshReport{Deferred: 1})
}

func TestHostRate(t *testing.T) {
	now := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	h := newHostRate(5, func() time.Time { return now })
	for _, step := range []struct {
		advance time.Duration
		host    string
		k       int
		want    bool
	}{
		{0, "a.example", 3, true},
		{0, "a.example", 3, false}, // 6 > 5: nothing spent
		{0, "a.example", 2, true},
		{0, "a.example", 1, false},
		{0, "b.example", 5, true}, // hosts apart
		{59 * time.Second, "a.example", 1, false},
		{time.Second + time.Nanosecond, "a.example", 5, true}, // a minute later
	} {
		now = now.Add(step.advance)
		if got := h.take(step.host, step.k); got != step.want {
			t.Fatalf("at %v take(%s, %d) = %v, want %v", now, step.host, step.k, got, step.want)
		}
	}
}

func TestFreshnessOptionsDefaults(t *testing.T) {
	o := FreshnessOptions{DiscoveryDepth: 5}.withDefaults()
	if o.Interval != 5*time.Minute || o.Batch != 20 || o.StaleAfter != 7*24*time.Hour || o.PerHostPerMinute != 30 ||
		o.DiscoveryDepth != 2 || o.DiscoveryEvery != 6*time.Hour {
		t.Fatalf("defaults %+v", o)
	}
}

// A failure of one actor (a 404) leaves the host's other coops alone; a
// host that cannot be reached fails all its coops with one try.
func TestRefreshStaleHostOrActor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer, _ := newStatusPeer(t, "beta")
		followAccepted(t, n, peer)
		ghost := peer.srv.URL + "/coops/ghost" // the peer answers 404 there
		if _, err := n.store.UpsertRemoteCoop(ctx, nil, directory.RemoteCoop{ActorID: ghost, Coop: directory.Coop{Slug: "ghost", Name: "Ghost"}}); err != nil {
			t.Fatal(err)
		}
		ageCoop(t, n, ghost, 9*24*time.Hour) // the oldest: tried first
		ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
		refresh(t, n, RefreshReport{Refreshed: 1, Unreachable: 1})

		peer.srv.Close()
		ageCoop(t, n, peer.actorID(), 8*24*time.Hour)
		before := peer.actorFetch.Load()
		refresh(t, n, RefreshReport{Unreachable: 2})
		if since, _ := unreachableSince(t, d, peer.actorID()); !since.Valid {
			t.Fatal("the coop of a closed host is not marked unreachable")
		}
		if peer.actorFetch.Load() != before {
			t.Fatal("a closed host was fetched from")
		}
	})
}

// TestFreshnessTakesTurns: processes sharing a database take turns at the
// background rounds. One holds them while it renews its claim; another
// takes over once the first has stopped.
func TestFreshnessTakesTurns(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		first := newInNode(t, d)
		second, err := New(Config{DB: d, Directory: first.store, BaseURL: first.f.cfg.BaseURL, Logger: inLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		a, b := first.f.fresh, second.fresh
		if a.holder == b.holder {
			t.Fatalf("two processes named alike: %s", a.holder)
		}
		steps := []struct {
			who  string
			r    *refresher
			want bool
		}{{"first", a, true}, {"second", b, false}, {"first, renewing", a, true}, {"second again", b, false}}
		for _, s := range steps {
			if got := s.r.turn(ctx); got != s.want {
				t.Fatalf("%s: turn = %v, want %v", s.who, got, s.want)
			}
		}
		// The first stops: its claim runs out.
		if _, err := d.Exec(ctx, `UPDATE leases SET expires_at = $1 WHERE name = $2`,
			db.Now().Add(-time.Second), freshnessLease); err != nil {
			t.Fatal(err)
		}
		if !b.turn(ctx) || a.turn(ctx) {
			t.Fatal("the second did not take over from the first")
		}
	})
}
