package federation

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// followAccepted makes alpha follow the peer and the peer accept, Fedify
// style: the Accept embeds the whole Follow, which embeds alpha's whole
// actor. It waits until the peer's coop and services are learned.
func followAccepted(t *testing.T, n *inNode, peer *fakePeer) directory.KnownCoop {
	t.Helper()
	ctx := context.Background()
	if err := n.f.Follow(ctx, n.coop.ID, peer.handle()); err != nil {
		t.Fatal(err)
	}
	var followID string
	if err := n.d.QueryRow(ctx, `SELECT follow_id FROM following WHERE actor_id = $1 AND state = 'pending'`, peer.actorID()).Scan(&followID); err != nil {
		t.Fatalf("no pending follow: %v", err)
	}
	follow := map[string]any{
		"id": followID, "type": "Follow", "object": peer.actorID(),
		"actor": map[string]any{"id": n.actorID(), "type": "Organization", "inbox": n.actorID() + "/inbox",
			"publicKey": map[string]any{"id": n.actorID() + "#main-key", "owner": n.actorID(), "publicKeyPem": "..."}},
	}
	accept := peer.activity("Accept", follow)
	accept["@context"] = []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/data-integrity/v1"}
	peer.mustPost(t, n, accept, http.StatusAccepted)
	if c := n.count(t, `SELECT COUNT(*) FROM following WHERE actor_id = $1 AND state = 'accepted'`, peer.actorID()); c != 1 {
		t.Fatalf("following not accepted (%d rows)", c)
	}
	var coop directory.KnownCoop
	await(t, "the peer's coop and services", func() bool {
		var err error
		coop, err = n.store.RemoteCoopByActor(ctx, peer.actorID())
		if err != nil {
			return false
		}
		svcs, _ := n.store.ListRemoteServices(ctx, coop.ID)
		return len(svcs) == len(peer.services)
	})
	return coop
}

func remoteServices(t *testing.T, n *inNode, coopID int64) map[string]directory.RemoteService {
	t.Helper()
	list, err := n.store.ListRemoteServices(context.Background(), coopID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]directory.RemoteService{}
	for _, s := range list {
		out[s.ObjectID] = s
	}
	return out
}

func TestApplyAcceptLearnsPeer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		coop := followAccepted(t, n, peer)
		if coop.Name != "Beta Builders" || coop.Slug != "beta" || coop.Domain != peer.host() || coop.City != "Leipzig" ||
			coop.Country != "DE" || coop.Summary != "We **build**." || coop.Capacity != directory.CapacityLimited ||
			strings.Join(coop.Skills, ",") != "Go,Postgres" || coop.IconURL != peer.actorID()+"/logo?v=1" || !coop.Discoverable {
			t.Errorf("learned coop %+v", coop)
		}
		svcs := remoteServices(t, n, coop.ID)
		s1 := svcs[peer.actorID()+"/services/1"]
		if s1.Title != "Service 1" || s1.Description != "We do **Service 1**." || s1.Category != "web-development" ||
			s1.Pricing != "hourly" || s1.Currency != "EUR" || *s1.PriceMin != 50 || strings.Join(s1.Tags, ",") != "go,sql" {
			t.Errorf("service 1 is %+v", s1)
		}
		if _, ok := svcs[peer.actorID()+"/services/3"]; !ok {
			t.Error("the service named by IRI on page 2 was not read")
		}
		// Following lists the peer with what the UI shows.
		fl, err := n.f.Following(context.Background(), n.coop.ID)
		if err != nil || len(fl) != 1 || fl[0].State != "accepted" || fl[0].Handle != peer.handle() || fl[0].Name != "Beta Builders" {
			t.Errorf("Following = %+v, %v", fl, err)
		}
		// Unfollowed, the peer leaves the directory: nothing would keep it
		// current.
		if err := n.f.Unfollow(context.Background(), n.coop.ID, peer.actorID()); err != nil {
			t.Fatal(err)
		}
		if _, err := n.store.RemoteCoopByActor(context.Background(), peer.actorID()); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("unfollowed peer still listed: %v", err)
		}
		if c := n.count(t, `SELECT COUNT(*) FROM services WHERE coop_id = $1`, coop.ID); c != 0 {
			t.Errorf("%d services of the unfollowed peer left", c)
		}
		// Its services arriving later are not kept.
		peer.mustPost(t, n, peer.activity("Create", peer.service(8, "Late")), http.StatusAccepted)
		if c := n.count(t, `SELECT COUNT(*) FROM services`); c != 0 {
			t.Errorf("%d services after unfollowing", c)
		}
	})
}

func TestApplyServicesArriving(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		coop := followAccepted(t, n, peer)

		s4 := peer.service(4, "Hosting")
		peer.mustPost(t, n, peer.activity("Create", s4), http.StatusAccepted)
		if got := remoteServices(t, n, coop.ID)[s4["id"].(string)]; got.Title != "Hosting" {
			t.Fatalf("created service: %+v", got)
		}
		s4["name"], s4["source"], s4["content"] = "Managed hosting", nil, "<p>Servers <i>we</i> run.</p><p>Backups.</p>"
		peer.mustPost(t, n, peer.activity("Update", s4), http.StatusAccepted)
		got := remoteServices(t, n, coop.ID)[s4["id"].(string)]
		if got.Title != "Managed hosting" || got.Description != "Servers we run.\n\nBackups." {
			t.Fatalf("updated service: %q %q", got.Title, got.Description)
		}
		// Delete by Tombstone, and by IRI.
		peer.mustPost(t, n, peer.activity("Delete", map[string]any{"id": s4["id"], "type": "Tombstone", "formerType": "Service"}), http.StatusAccepted)
		peer.mustPost(t, n, peer.activity("Delete", peer.actorID()+"/services/1"), http.StatusAccepted)
		svcs := remoteServices(t, n, coop.ID)
		if _, ok := svcs[s4["id"].(string)]; ok || len(svcs) != 2 {
			t.Fatalf("after deletes: %v", svcs)
		}

		// The Note announcing a service is for people, not the directory.
		note := map[string]any{"id": peer.actorID() + "/notes/1", "type": "Note", "content": "New service"}
		peer.mustPost(t, n, peer.activity("Create", note), http.StatusAccepted)
		if len(remoteServices(t, n, coop.ID)) != 2 {
			t.Error("a Note became a service")
		}
	})
}

func TestApplyRefusesOtherHostsObjects(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		beta := newFakePeer(t, "beta", peerKey(t))
		gamma := newFakePeer(t, "gamma", otherKey(t))
		betaCoop := followAccepted(t, n, beta)
		gammaCoop := followAccepted(t, n, gamma)
		before := n.count(t, `SELECT COUNT(*) FROM services`)

		forged := gamma.service(1, "Taken over")
		for name, act := range map[string]map[string]any{
			"Update of another host's service":   beta.activity("Update", forged),
			"Create on another host":             beta.activity("Create", gamma.service(9, "Planted")),
			"Delete of another host's service":   beta.activity("Delete", gamma.actorID()+"/services/2"),
			"Delete of another host's actor":     beta.activity("Delete", gamma.actorID()),
			"Update of another host's actor":     beta.activity("Update", gamma.actorDoc()),
			"service attributed to someone else": beta.activity("Create", func() map[string]any { s := beta.service(7, "X"); s["attributedTo"] = gamma.actorID(); return s }()),
		} {
			if got := beta.post(t, n, "/inbox", act, sendOpts{}); got != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", name, got)
			}
		}
		if after := n.count(t, `SELECT COUNT(*) FROM services`); after != before {
			t.Errorf("services %d -> %d", before, after)
		}
		if got := remoteServices(t, n, gammaCoop.ID)[gamma.actorID()+"/services/1"]; got.Title != "Service 1" {
			t.Errorf("gamma's service changed: %+v", got)
		}
		if _, err := n.store.RemoteCoopByActor(context.Background(), gamma.actorID()); err != nil {
			t.Errorf("gamma's coop: %v", err)
		}
		_ = betaCoop

		// Nothing is kept from an actor no coop here follows.
		delta := newFakePeer(t, "delta", randomTestKey(t))
		delta.mustPost(t, n, delta.activity("Create", delta.service(1, "Unsolicited")), http.StatusAccepted)
		if after := n.count(t, `SELECT COUNT(*) FROM services`); after != before {
			t.Errorf("an unfollowed actor's service was stored")
		}
	})
}

func TestApplyUpdateAndDeleteActor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		coop := followAccepted(t, n, peer)

		// A profile from another kind of server: HTML summary, no source,
		// location only as a profile field.
		doc := peer.actorDoc()
		doc["name"], doc["summary"] = "Beta Builders eG", "<p>We build <a href=\"https://x.example\">things</a>.</p><p>Since 2011.</p>"
		delete(doc, "source")
		delete(doc, "address")
		delete(doc, "knowsAbout")
		doc["attachment"] = []any{
			map[string]any{"type": "PropertyValue", "name": "Location", "value": "Dresden"},
			map[string]any{"type": "PropertyValue", "name": "Skills", "value": "Rust, <b>Go</b>"},
		}
		peer.mustPost(t, n, peer.activity("Update", doc), http.StatusAccepted)
		got, err := n.store.RemoteCoopByActor(ctx, peer.actorID())
		if err != nil || got.ID != coop.ID {
			t.Fatalf("coop after update: %+v %v", got, err)
		}
		if got.Name != "Beta Builders eG" || got.Summary != "We build things.\n\nSince 2011." || got.City != "Dresden" ||
			got.Country != "" || strings.Join(got.Skills, ",") != "Rust,Go" {
			t.Errorf("updated profile: name %q summary %q city %q skills %v", got.Name, got.Summary, got.City, got.Skills)
		}

		// A follower's actor is kept current as well, and its coop dropped
		// from nowhere: it is not listed.
		peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusAccepted)

		// Delete of the actor: coop, services, follows and cache go.
		peer.mustPost(t, n, peer.activity("Delete", peer.actorID()), http.StatusAccepted)
		if _, err := n.store.RemoteCoopByActor(ctx, peer.actorID()); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("coop after Delete: %v", err)
		}
		for _, table := range []string{"followers", "following", "remote_actors"} {
			if c := n.count(t, `SELECT COUNT(*) FROM `+table); c != 0 {
				t.Errorf("%d rows left in %s", c, table)
			}
		}
		if c := n.count(t, `SELECT COUNT(*) FROM services WHERE coop_id = $1`, coop.ID); c != 0 {
			t.Errorf("%d services left", c)
		}
	})
}

func TestApplyUndoFollow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		beta := newFakePeer(t, "beta", peerKey(t))
		gamma := newFakePeer(t, "gamma", otherKey(t))
		followers := func() int { return n.count(t, `SELECT COUNT(*) FROM followers`) }

		// Undo naming the Follow by id.
		f1 := beta.activity("Follow", n.actorID())
		beta.mustPost(t, n, f1, http.StatusAccepted)
		beta.mustPost(t, n, beta.activity("Undo", f1["id"]), http.StatusAccepted)
		if followers() != 0 {
			t.Fatal("Undo by id left the follower")
		}
		// Undo embedding a Follow whose id we never saw: matched by who
		// follows whom.
		beta.mustPost(t, n, beta.activity("Follow", n.actorID()), http.StatusAccepted)
		other := beta.activity("Follow", n.actorID())
		beta.mustPost(t, n, beta.activity("Undo", other), http.StatusAccepted)
		if followers() != 0 {
			t.Fatal("Undo of an embedded Follow left the follower")
		}
		// Nobody undoes another's Follow.
		g := gamma.activity("Follow", n.actorID())
		gamma.mustPost(t, n, g, http.StatusAccepted)
		if got := beta.post(t, n, "/inbox", beta.activity("Undo", g), sendOpts{}); got != http.StatusForbidden {
			t.Errorf("Undo of gamma's Follow by beta: %d, want 403", got)
		}
		if got := beta.post(t, n, "/inbox", beta.activity("Undo", g["id"]), sendOpts{}); got != http.StatusAccepted {
			t.Errorf("Undo of gamma's Follow id by beta: %d", got)
		}
		if followers() != 1 {
			t.Error("gamma's follow was undone by beta")
		}
	})
}

func TestApplyRejectOfOurFollow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		if err := n.f.Follow(ctx, n.coop.ID, "@"+peer.handle()); err != nil {
			t.Fatal(err)
		}
		fl, _ := n.f.Following(ctx, n.coop.ID)
		// An Accept by someone else of our Follow changes nothing.
		gamma := newFakePeer(t, "gamma", otherKey(t))
		gamma.mustPost(t, n, gamma.activity("Accept", fl[0].FollowID), http.StatusAccepted)
		if fl, _ := n.f.Following(ctx, n.coop.ID); fl[0].State != "pending" {
			t.Fatalf("accepted by a third party: %s", fl[0].State)
		}
		peer.mustPost(t, n, peer.activity("Reject", fl[0].FollowID), http.StatusAccepted)
		if fl, _ := n.f.Following(ctx, n.coop.ID); fl[0].State != "rejected" {
			t.Errorf("state after Reject: %s", fl[0].State)
		}
		if _, err := n.store.RemoteCoopByActor(ctx, peer.actorID()); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("a rejecting peer was listed: %v", err)
		}
	})
}

func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                             "plain",
		"<p>One</p><p>Two</p>":              "One\n\nTwo",
		"a<br>b<br/>c":                      "a\nb\nc",
		"<script>x</script>ok":              "xok",
		"Fish &amp; chips &lt;3":            "Fish & chips <3",
		`<a href="https://x.example">x</a>`: "x",
		"<ul><li>one</li><li>two</li></ul>": "one\n\ntwo",
	} {
		if got := htmlText(in); got != want {
			t.Errorf("htmlText(%q) = %q, want %q", in, got, want)
		}
	}
}
