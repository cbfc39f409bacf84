package node_test

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/mail/mailtest"
	"github.com/coopnet/coopnet/internal/node"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// TestPurgeOnce checks the purge the node runs at start and every hour: it
// uses the configured retention (90 days by default) and deletes the
// contact details of requests closed before it, and only those.
func TestPurgeOnce(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      time.Duration
	}{
		{"default", 0, 90 * 24 * time.Hour},
		{"configured", 30 * 24 * time.Hour, 30 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, d *db.DB) {
				ctx := context.Background()
				base := &url.URL{Scheme: "http", Host: "alpha.example"}
				n, err := node.New(d, node.Config{BaseURL: base, Logger: slog.New(slog.DiscardHandler), BcryptCost: 4,
					ContactRetention: tt.retention})
				if err != nil {
					t.Fatal(err)
				}
				if got := n.ContactRetention(); got != tt.want {
					t.Fatalf("retention %s, want %s", got, tt.want)
				}
				coop, _, err := n.Store.Setup(ctx, directory.SetupInput{CoopName: "Alpha", Slug: "alpha", AdminName: "Ada",
					AdminEmail: "ada@alpha.example", Password: "a long password"}, base.String())
				if err != nil {
					t.Fatal(err)
				}
				at := referrals.Local{CoopID: coop.ID, ActorID: base.String() + federation.ActorPath("alpha")}
				// One request closed just before the retention ends, one
				// just after, one still open.
				old := closedRequest(t, n, at, tt.want+time.Hour)
				recent := closedRequest(t, n, at, tt.want-time.Hour)
				open, _, err := n.Referrals.CreateRequest(ctx, at, intake())
				if err != nil {
					t.Fatal(err)
				}

				if purged, err := n.PurgeOnce(ctx); err != nil || purged != 1 {
					t.Fatalf("purge: %d, %v; want 1", purged, err)
				}
				if _, err := n.Referrals.ContactFor(ctx, coop.ID, old.ID); !errors.Is(err, referrals.ErrContactPurged) {
					t.Errorf("contact of the request closed before the retention: %v", err)
				}
				for _, r := range []referrals.Request{recent, open} {
					if c, err := n.Referrals.ContactFor(ctx, coop.ID, r.ID); err != nil || c.Email != "ann@foodbank.example" {
						t.Errorf("contact of request %d: %v", r.ID, err)
					}
				}
				if purged, err := n.PurgeOnce(ctx); err != nil || purged != 0 {
					t.Fatalf("purge again: %d, %v; want 0", purged, err)
				}
			})
		})
	}
}

// closedRequest makes a request, declines it, and dates its closing ago.
func closedRequest(t *testing.T, n *node.Node, at referrals.Local, ago time.Duration) referrals.Request {
	t.Helper()
	ctx := context.Background()
	r, _, err := n.Referrals.CreateRequest(ctx, at, intake())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Referrals.Decline(ctx, at.CoopID, r.ID, "No time."); err != nil {
		t.Fatal(err)
	}
	if _, err := n.DB.Exec(ctx, `UPDATE work_requests SET closed_at = $1 WHERE id = $2`, db.Now().Add(-ago), r.ID); err != nil {
		t.Fatal(err)
	}
	return r
}

func intake() referrals.Intake {
	return referrals.Intake{
		Details: referrals.Details{Organization: "Food Bank", Description: "We need a new website.",
			Categories: []string{"web-development"}, Country: "DE", Language: "de"},
		Contact: referrals.Contact{Name: "Ann", Email: "ann@foodbank.example"},
	}
}

// TestNodeSendsNotifications checks the node's wiring of mail: with a relay,
// a new request e-mails its client and the coop's members.
func TestNodeSendsNotifications(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		srv := mailtest.Start(t)
		base := &url.URL{Scheme: "http", Host: "alpha.example"}
		n, err := node.New(d, node.Config{BaseURL: base, Logger: slog.New(slog.DiscardHandler), BcryptCost: 4,
			SMTPURL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Federation.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n.Federation.Stop(sctx)
		})
		coop, _, err := n.Store.Setup(ctx, directory.SetupInput{CoopName: "Alpha", Slug: "alpha", AdminName: "Ada",
			AdminEmail: "ada@alpha.example", Password: "a long password"}, base.String())
		if err != nil {
			t.Fatal(err)
		}
		at := referrals.Local{CoopID: coop.ID, ActorID: base.String() + federation.ActorPath("alpha")}
		if _, _, err := n.Referrals.CreateRequest(ctx, at, intake()); err != nil {
			t.Fatal(err)
		}
		var to []string
		for range 2 {
			to = append(to, srv.Next(t).To...)
		}
		slices.Sort(to)
		if want := []string{"ada@alpha.example", "ann@foodbank.example"}; !slices.Equal(to, want) {
			t.Errorf("mailed %q, want %q", to, want)
		}
	})
}
