package web

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

// addPeerCoop stores a coop of the peer node beta.example, as federation
// does when it reads the coop's actor, with one service.
func (n *testNode) addPeerCoop(t *testing.T, rc directory.RemoteCoop) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := n.store.UpsertRemoteCoop(ctx, nil, rc)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func peerBeta() directory.RemoteCoop {
	return directory.RemoteCoop{
		ActorID: "https://beta.example/coops/beta",
		URL:     "https://beta.example/coops/beta",
		IconURL: "https://beta.example/coops/beta/logo",
		Coop: directory.Coop{
			Slug: "beta", Name: "Beta Builders", Summary: "We **build** websites for tenants' unions.\n\nSecond paragraph.",
			City: "Leipzig", Country: "DE", Languages: []string{"de", "en"}, Skills: []string{"Go", "SQL"},
			Capacity: directory.CapacityLimited, LegalForm: "worker-coop", YearFounded: 2011, WorkerOwners: 6,
			Website: "https://beta-builders.example", ContactEmail: "hello@beta.example", Discoverable: true,
		},
	}
}

func TestPeerCoopOnHomePage(t *testing.T) {
	n := newTestNode(t)

	rec := n.pageGet(t, "/", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Alpha Tech Coop")
	pageWantNoBody(t, rec, "Coops in the network")

	id := n.addPeerCoop(t, peerBeta())
	hidden := peerBeta()
	hidden.ActorID, hidden.URL, hidden.Slug, hidden.Name, hidden.Discoverable =
		"https://gamma.example/coops/gamma", "https://gamma.example/coops/gamma", "gamma", "Gamma Quiet Coop", false
	n.addPeerCoop(t, hidden)

	rec = n.pageGet(t, "/", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Alpha Tech Coop", `<h2 id="network">Coops in the network</h2>`,
		`<a href="/network/`+strconv.FormatInt(id, 10)+`">Beta Builders</a>`,
		"We build websites for tenants&#39; unions.", "Leipzig, Germany", "Limited capacity", "on beta.example")
	pageWantNoBody(t, rec, "Gamma Quiet Coop", "gamma.example", "**build**")
}

func TestPeerCoopPage(t *testing.T) {
	n := newTestNode(t)
	ctx := context.Background()
	id := n.addPeerCoop(t, peerBeta())
	lo, hi := int64(50), int64(90)
	for _, svc := range []directory.RemoteService{
		{ObjectID: "https://beta.example/coops/beta/services/1", URL: "https://beta.example/coops/beta/services/1",
			Service: directory.Service{Title: "Web sites", Description: "Fast and *accessible*.", Category: "web-development",
				Pricing: "hourly", Tags: []string{"wordpress"}, PriceMin: &lo, PriceMax: &hi, Currency: "EUR", Active: true}},
		{ObjectID: "https://beta.example/coops/beta/services/2", URL: "javascript:alert(1)",
			Service: directory.Service{Title: "<script>alert(1)</script>", Description: "<img src=x onerror=alert(1)> Hosting.",
				Category: "hosting", Active: true}},
	} {
		if _, err := n.store.UpsertRemoteService(ctx, nil, id, svc); err != nil {
			t.Fatal(err)
		}
	}
	known, err := n.store.RemoteCoopByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	rec := n.pageGet(t, "/network/"+strconv.FormatInt(id, 10), "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Beta Builders</h1>", "<title>Beta Builders (beta.example) · coopnet</title>",
		"We <strong>build</strong> websites", "<p>Second paragraph.</p>",
		`Lives on <strong>beta.example</strong>: <a href="https://beta.example/coops/beta" rel="nofollow noopener">see its own page</a>`,
		"last updated", `<time datetime="`+known.FetchedAt.UTC().Format("2006-01-02T15:04:05Z07:00")+`">`,
		"Leipzig, Germany", "Limited capacity", "Worker cooperative", "2011", "German, English", "<li>Go</li>",
		`<a href="https://beta.example/coops/beta/services/1" rel="nofollow noopener">Web sites</a>`,
		"Web development", "Hourly rate: 50 to 90 EUR", "<li>wordpress</li>", "Fast and <em>accessible</em>.",
		"&lt;script&gt;alert(1)&lt;/script&gt;", "Hosting.",
		`<a href="mailto:hello@beta.example">`, `<a href="https://beta-builders.example" rel="nofollow noopener">`)
	pageWantNoBody(t, rec, "<script>", "javascript:", "onerror", "<img", "beta.example/coops/beta/logo")
	if cc := rec.Header().Get("Cache-Control"); cc != "" {
		t.Errorf("a listed coop's page has Cache-Control %q", cc)
	}

	// A plain-text summary (from a server that sends HTML only) reads as text.
	plain := peerBeta()
	plain.Summary = "Line one.\n\nLine <two> & more."
	n.addPeerCoop(t, plain)
	rec = n.pageGet(t, "/network/"+strconv.FormatInt(id, 10), "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<p>Line one.</p>", "Line", "&amp; more.")
	pageWantNoBody(t, rec, "<two>")
}

func TestPeerCoopWithoutServices(t *testing.T) {
	n := newTestNode(t)
	bare := directory.RemoteCoop{ActorID: "https://masto.example/users/delta", Coop: directory.Coop{Slug: "delta"}}
	id := n.addPeerCoop(t, bare)
	rec := n.pageGet(t, "/network/"+strconv.FormatInt(id, 10), "")
	pageWantStatus(t, rec, http.StatusNotFound) // absent "discoverable" is not opted in

	bare.Discoverable = true
	n.addPeerCoop(t, bare)
	rec = n.pageGet(t, "/network/"+strconv.FormatInt(id, 10), "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>delta@masto.example</h1>", "This node knows no services of this coop.",
		`<a href="https://masto.example/users/delta" rel="nofollow noopener">see its own page</a>`)
	pageWantNoBody(t, rec, `id="about"`)
}

func TestUnlistedPeerCoopPage(t *testing.T) {
	n := newTestNode(t)
	ctx := context.Background()
	rc := peerBeta()
	rc.Discoverable = false
	id := n.addPeerCoop(t, rc)
	target := "/network/" + strconv.FormatInt(id, 10)

	pageWantStatus(t, n.pageGet(t, target, ""), http.StatusNotFound)
	cookie := n.session(t, n.admin)
	pageWantStatus(t, n.pageGet(t, target, cookie), http.StatusNotFound) // Alpha does not follow it

	follow := func(state string) {
		t.Helper()
		now := db.Now()
		if _, err := n.store.DB().Exec(ctx, `DELETE FROM following WHERE coop_id = $1`, n.coop.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := n.store.DB().Exec(ctx, `INSERT INTO following (coop_id, actor_id, follow_id, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, n.coop.ID, rc.ActorID, "http://localhost:8080/follows/"+state, state, now); err != nil {
			t.Fatal(err)
		}
	}
	follow("pending")
	pageWantStatus(t, n.pageGet(t, target, cookie), http.StatusNotFound)

	follow("accepted")
	rec := n.pageGet(t, target, cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Beta Builders</h1>", "does not ask to be listed")
	if cc := rec.Header().Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control %q, want private, no-store", cc)
	}
	pageWantStatus(t, n.pageGet(t, target, ""), http.StatusNotFound)

	// Following it does not list it on the home page.
	rec = n.pageGet(t, "/", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantNoBody(t, rec, "Beta Builders", "Coops in the network")
}

func TestPeerCoopPageNotFound(t *testing.T) {
	n := newTestNode(t)
	id := n.addPeerCoop(t, peerBeta())
	cookie := n.session(t, n.admin)
	for _, p := range []string{
		"/network/" + strconv.FormatInt(n.coop.ID, 10), // hosted here: its page is /coops/alpha
		"/network/" + strconv.FormatInt(id+1000, 10),
		"/network/0", "/network/-1", "/network/abc", "/network/1.5", "/network/%ff", "/network/%00",
		"/network/99999999999999999999999", "/network/",
	} {
		for _, who := range []string{"", cookie} {
			rec := n.pageGet(t, p, who)
			pageWantStatus(t, rec, http.StatusNotFound)
			pageCheckHTML(t, rec.Body.String())
		}
	}
}
