package federation

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestFollowAndUnfollow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		beta := newFakePeer(t, "beta", peerKey(t))
		gamma := newFakePeer(t, "gamma", otherKey(t))

		if err := n.f.Follow(ctx, n.coop.ID, beta.handle()); err != nil {
			t.Fatal(err)
		}
		follows := n.activitiesOf(t, "Follow")
		if len(follows) != 1 || follows[0]["object"] != beta.actorID() || follows[0]["actor"] != n.actorID() {
			t.Fatalf("Follow stored: %v", follows)
		}
		fl, err := n.f.Following(ctx, n.coop.ID)
		if err != nil || len(fl) != 1 || fl[0].State != "pending" || fl[0].FollowID != follows[0]["id"] ||
			fl[0].Handle != beta.handle() || fl[0].Name != "Beta Builders" {
			t.Fatalf("Following = %+v, %v", fl, err)
		}
		// Asking again while pending sends a new Follow for the same row.
		if err := n.f.Follow(ctx, n.coop.ID, "@"+beta.handle()); err != nil {
			t.Fatal(err)
		}
		if fl, _ := n.f.Following(ctx, n.coop.ID); len(fl) != 1 || len(n.activitiesOf(t, "Follow")) != 2 {
			t.Fatalf("follow again: %d rows, %d Follows", len(fl), len(n.activitiesOf(t, "Follow")))
		}
		// By actor URL; and never a coop of this node, nor a blocked host.
		if err := n.f.Follow(ctx, n.coop.ID, gamma.actorID()); err != nil {
			t.Fatal(err)
		}
		for _, self := range []string{n.actorID(), "alpha@" + n.f.urls.Host(), "@Alpha@" + strings.ToUpper(n.f.urls.Host())} {
			if err := n.f.Follow(ctx, n.coop.ID, self); !errors.Is(err, ErrFollowLocal) {
				t.Errorf("following ourselves as %s: %v", self, err)
			}
		}
		blocked := newFakePeer(t, "delta", randomTestKey(t))
		if err := n.f.BlockHost(ctx, blocked.host(), ""); err != nil {
			t.Fatal(err)
		}
		if err := n.f.Follow(ctx, n.coop.ID, blocked.handle()); !errors.Is(err, ErrHostRefused) {
			t.Errorf("following a blocked host: %v", err)
		}

		// The queue delivers the Follows.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if err := n.f.Start(cctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.f.Stop(context.Background()) })
		await(t, "the Follows delivered", func() bool {
			return len(beta.receivedOf("Follow")) == 2 && len(gamma.receivedOf("Follow")) == 1
		})

		// Unfollow: the row goes, an Undo of the Follow is sent.
		if err := n.f.Unfollow(ctx, n.coop.ID, beta.actorID()); err != nil {
			t.Fatal(err)
		}
		undos := n.activitiesOf(t, "Undo")
		if len(undos) != 1 || undos[0]["object"].(map[string]any)["id"] != n.activitiesOf(t, "Follow")[1]["id"] {
			t.Fatalf("Undo stored: %v", undos)
		}
		await(t, "the Undo delivered", func() bool { return len(beta.receivedOf("Undo")) == 1 })
		if err := n.f.Unfollow(ctx, n.coop.ID, beta.actorID()); !errors.Is(err, ErrNoSuchFollow) {
			t.Errorf("unfollow twice: %v", err)
		}
		if fl, _ := n.f.Following(ctx, n.coop.ID); len(fl) != 1 || fl[0].ActorID != gamma.actorID() {
			t.Errorf("Following after unfollow: %+v", fl)
		}
		// The fetches were signed by the instance actor.
		beta.mu.Lock()
		defer beta.mu.Unlock()
		for path, sig := range beta.getSigs {
			if path == "/.well-known/webfinger" {
				continue // public, unsigned
			}
			if want := `keyId="` + n.f.urls.InstanceKeyID() + `"`; !strings.Contains(sig, want) {
				t.Errorf("fetch signed %q, want %s", sig, want)
			}
		}
	})
}

func TestFollowerApproval(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		c := n.coop
		c.ApproveFollowers = true
		if _, err := n.store.UpdateCoop(ctx, c); err != nil {
			t.Fatal(err)
		}
		beta := newFakePeer(t, "beta", peerKey(t))
		gamma := newFakePeer(t, "gamma", otherKey(t))
		follow := beta.activity("Follow", n.actorID())
		beta.mustPost(t, n, follow, http.StatusAccepted)
		gamma.mustPost(t, n, gamma.activity("Follow", n.actorID()), http.StatusAccepted)
		if len(n.activitiesOf(t, "Accept")) != 0 {
			t.Fatal("an Accept was sent before approval")
		}
		pending, err := n.f.PendingFollowers(ctx, n.coop.ID)
		if err != nil || len(pending) != 2 {
			t.Fatalf("pending: %+v %v", pending, err)
		}

		if err := n.f.ApproveFollower(ctx, n.coop.ID, beta.actorID()); err != nil {
			t.Fatal(err)
		}
		accepts := n.activitiesOf(t, "Accept")
		if len(accepts) != 1 || accepts[0]["object"].(map[string]any)["id"] != follow["id"] {
			t.Fatalf("Accept after approval: %v", accepts)
		}
		if err := n.f.ApproveFollower(ctx, n.coop.ID, beta.actorID()); !errors.Is(err, ErrNoSuchFollow) {
			t.Errorf("approve twice: %v", err)
		}
		// A follower approved once is not asked again when it follows again.
		beta.mustPost(t, n, beta.activity("Follow", n.actorID()), http.StatusAccepted)
		if len(n.activitiesOf(t, "Accept")) != 2 {
			t.Error("a new Follow of an approved follower got no Accept")
		}

		if err := n.f.RejectFollower(ctx, n.coop.ID, gamma.actorID()); err != nil {
			t.Fatal(err)
		}
		if err := n.f.RemoveFollower(ctx, n.coop.ID, beta.actorID()); err != nil {
			t.Fatal(err)
		}
		if rejects := n.activitiesOf(t, "Reject"); len(rejects) != 2 {
			t.Fatalf("%d Rejects", len(rejects))
		}
		if fl, _ := n.f.Followers(ctx, n.coop.ID); len(fl) != 0 {
			t.Errorf("followers left: %+v", fl)
		}
		if err := n.f.RemoveFollower(ctx, n.coop.ID, beta.actorID()); !errors.Is(err, ErrNoSuchFollow) {
			t.Errorf("remove twice: %v", err)
		}
	})
}

func TestResolveHandle(t *testing.T) {
	d := testdb.SQLite(t)
	n := newInNode(t, d)
	peer := newFakePeer(t, "beta", peerKey(t))
	ctx := context.Background()
	for _, in := range []string{peer.handle(), "@" + peer.handle(), "acct:" + peer.handle(), " " + peer.handle() + " "} {
		got, err := n.f.ResolveHandle(ctx, in)
		if err != nil || got != peer.actorID() {
			t.Errorf("ResolveHandle(%q) = %q, %v", in, got, err)
		}
	}
	if got, err := n.f.ResolveHandle(ctx, peer.actorID()); err != nil || got != peer.actorID() {
		t.Errorf("a URL: %q %v", got, err)
	}
	for _, bad := range []string{"", "beta", "@beta", "beta@", "a b@host", "nobody@" + peer.host(), "x@y@z"} {
		if _, err := n.f.ResolveHandle(ctx, bad); err == nil {
			t.Errorf("ResolveHandle(%q) succeeded", bad)
		}
	}
}
