package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// dirNode is a test node whose directory holds:
//   - alpha, here: web sites (WordPress, sliding scale), Leipzig DE, de+en,
//     remote-friendly, open;
//   - beta on beta.example: CiviCRM migrations (pro bono), Lyon FR, fr, limited;
//   - gamma on gamma.example: hosting (hourly), Quebec CA, en+fr, closed,
//     unreachable for ten days (stale);
//   - and two coops that asked not to be listed: delta here, hidden on
//     hidden.example, both offering WordPress.
type dirNode struct {
	*testNode
	alphaSvc, beta, gamma int64
	gammaDown             time.Time
}

func newDirNode(t *testing.T, d *db.DB) *dirNode {
	t.Helper()
	ctx := context.Background()
	n := &dirNode{testNode: newTestNodeOn(t, d)}
	alpha := n.coop
	alpha.Summary = "We build accessible websites for nonprofits and charities."
	alpha.City, alpha.Country, alpha.Languages = "Leipzig", "DE", []string{"de", "en"}
	alpha.Skills, alpha.RemoteFriendly, alpha.Capacity = []string{"Accessibility", "PHP"}, true, directory.CapacityOpen
	if _, err := n.store.UpdateCoop(ctx, alpha); err != nil {
		t.Fatal(err)
	}
	svc, err := n.store.CreateService(ctx, alpha.ID, directory.Service{Title: "WordPress websites", Category: "web-development",
		Tags: []string{"wordpress", "cms"}, Pricing: "sliding-scale", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	n.alphaSvc = svc.ID
	delta, err := n.store.CreateCoop(ctx, directory.Coop{Slug: "delta", Name: "Delta Quiet Coop", Capacity: directory.CapacityOpen})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.CreateService(ctx, delta.ID, directory.Service{Title: "WordPress care", Category: "web-development",
		Pricing: "hourly", Active: true}); err != nil {
		t.Fatal(err)
	}

	n.beta = n.dirAddPeer(t, "beta.example", directory.Coop{Name: "Beta Data Coop", Summary: "Databases and CRM for charities.",
		City: "Lyon", Country: "FR", Languages: []string{"fr"}, Capacity: directory.CapacityLimited, Discoverable: true},
		directory.Service{Title: "CiviCRM migration", Category: "data-crm", Tags: []string{"civicrm", "crm"}, Pricing: "pro-bono"})
	n.gamma = n.dirAddPeer(t, "gamma.example", directory.Coop{Name: "Gamma Hosting Coop", Summary: "Servers run by their owners.",
		Region: "Quebec", Country: "CA", Languages: []string{"en", "fr"}, Capacity: directory.CapacityClosed, Discoverable: true},
		directory.Service{Title: "Managed hosting", Category: "hosting", Tags: []string{"linux"}, Pricing: "hourly"})
	n.dirAddPeer(t, "hidden.example", directory.Coop{Name: "Hidden Web Coop", Summary: "Websites.", Country: "DE",
		Capacity: directory.CapacityOpen}, directory.Service{Title: "WordPress websites", Category: "web-development", Pricing: "pro-bono"})
	n.gammaDown = time.Now().Add(-10 * 24 * time.Hour).UTC().Truncate(time.Second)
	if err := n.store.SetUnreachable(ctx, n.gamma, &n.gammaDown); err != nil {
		t.Fatal(err)
	}
	n.syncDirectory(t)
	return n
}

// dirAddPeer stores a coop of a peer node, as federation does on learning
// it, with one service, and returns its id.
func (n *testNode) dirAddPeer(t *testing.T, host string, co directory.Coop, svc directory.Service) int64 {
	t.Helper()
	ctx := context.Background()
	slug := strings.Split(host, ".")[0]
	co.Slug = slug
	actor := "https://" + host + "/coops/" + slug
	id, err := n.store.UpsertRemoteCoop(ctx, nil, directory.RemoteCoop{Coop: co, ActorID: actor, URL: actor})
	if err != nil {
		t.Fatal(err)
	}
	svc.Active = true
	if _, err := n.store.UpsertRemoteService(ctx, nil, id, directory.RemoteService{Service: svc,
		ObjectID: actor + "/services/1", URL: actor + "/services/1"}); err != nil {
		t.Fatal(err)
	}
	return id
}

// syncDirectory brings the directory up to date with the database.
func (n *testNode) syncDirectory(t *testing.T) {
	t.Helper()
	if err := n.dir.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// dirNames returns the names of the results on a directory page, in order.
func dirNames(body string) []string {
	var out []string
	for _, part := range strings.Split(body, "<h3><a href=")[1:] {
		_, rest, _ := strings.Cut(part, ">")
		name, _, _ := strings.Cut(rest, "</a>")
		out = append(out, name)
	}
	return out
}

func TestDirectoryPageListsEveryListedCoop(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		rec := n.pageGet(t, "/directory", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec,
			"3 coops found",
			// a coop here links to its pages here
			`<a href="/coops/alpha">Alpha Tech Coop</a>`, `href="/coops/alpha#request-work"`,
			// a peer's coop links to its home node, and to its copy here
			`<a href="https://beta.example/coops/beta" rel="nofollow noopener">Beta Data Coop</a>`,
			`href="https://beta.example/coops/beta#request-work"`, fmt.Sprintf(`href="/network/%d"`, n.beta), "on beta.example",
			"Leipzig, Germany", "German, English", "Accepting new work", "Works remotely",
			// stale
			"Stale: not reachable since", n.gammaDown.Format("2 January 2006"),
			// facet counts with names
			`Web development <span class="count">(1)</span>`, `Data and CRM <span class="count">(1)</span>`,
			`Pro bono <span class="count">(1)</span>`, `France <span class="count">(1)</span>`,
			`Canada <span class="count">(1)</span>`, `French <span class="count">(2)</span>`,
			// the nav link and the OpenSearch link in the head
			`<a href="/directory" aria-current="page">Directory</a>`,
			`<link rel="search" type="application/opensearchdescription+xml"`,
		)
		pageWantNoBody(t, rec, "Hidden Web Coop", "Delta Quiet Coop", "Previous page", "Next page",
			`value="design"`, `(0)`) // no coop offers design: no use ticking it
		if strings.Count(rec.Body.String(), "Stale:") != 1 {
			t.Errorf("stale note on other coops than gamma")
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=30" {
			t.Errorf("Cache-Control %q", cc)
		}
		if sc := rec.Header().Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("a public page sets cookies: %v", sc)
		}

		// A member sees their menu: only their browser may keep the page.
		rec = n.pageGet(t, "/directory", n.session(t, n.admin))
		pageWantStatus(t, rec, http.StatusOK)
		if cc := rec.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "private") {
			t.Errorf("Cache-Control for a member %q", cc)
		}
	})
}

func TestDirectorySearchRanksAndExplains(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		for _, tc := range []struct {
			q, first string
			matched  []string
		}{
			{"civicrm", "Beta Data Coop", []string{"CiviCRM migration"}},
			{"wordpress", "Alpha Tech Coop", []string{"WordPress websites"}},
			{"hosting", "Gamma Hosting Coop", []string{"Managed hosting"}},
		} {
			t.Run(tc.q, func(t *testing.T) {
				rec := n.pageGet(t, "/directory?q="+tc.q, "")
				pageWantStatus(t, rec, http.StatusOK)
				names := dirNames(rec.Body.String())
				if len(names) == 0 || names[0] != tc.first {
					t.Fatalf("results %v, want %s first", names, tc.first)
				}
				pageWantBody(t, rec, append([]string{"Matched: ", `value="` + tc.q + `"`}, tc.matched...)...)
				pageWantNoBody(t, rec, "Hidden Web Coop", "Delta Quiet Coop")
			})
		}

		rec := n.pageGet(t, "/directory?q=civicrm+wordpress", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "Showing results that match some of your words")
		rec = n.pageGet(t, "/directory?q=zzzzzz", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "No coop matches your search")
	})
}

func TestDirectoryFilters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		const a, b, g = "Alpha Tech Coop", "Beta Data Coop", "Gamma Hosting Coop"
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{a, b, g}},
			{"category=data-crm", []string{b}},
			{"category=data-crm&category=hosting", []string{b, g}},
			{"category=data-crm,hosting", []string{b, g}},
			{"pricing=sliding-scale", []string{a}},
			{"pricing=pro-bono&pricing=sliding-scale", []string{a, b}},
			{"country=fr", []string{b}},
			{"country=DE&country=CA", []string{a, g}},
			{"language=fr", []string{b, g}},
			{"language=de", []string{a}},
			{"region=Quebec", []string{g}},
			{"skill=accessibility", []string{a}},
			{"skill=civicrm", []string{b}},
			{"remote=on", []string{a}},
			{"accepting=on", []string{a, b}},
			{"accepting=true&language=fr", []string{b}},
			{"q=coop&country=CA", []string{g}},
		} {
			t.Run(tc.query, func(t *testing.T) {
				rec := n.pageGet(t, "/directory?"+tc.query, "")
				pageWantStatus(t, rec, http.StatusOK)
				got := dirNames(rec.Body.String())
				if strings.Join(sorted(got), "|") != strings.Join(tc.want, "|") {
					t.Errorf("results %v, want %v", got, tc.want)
				}
				pageCheckHTML(t, rec.Body.String())
			})
		}

		// The form shows what is chosen, and opens the filters.
		rec := n.pageGet(t, "/directory?country=fr&pricing=pro-bono&remote=on&skill=crm,civicrm", "")
		pageWantBody(t, rec, `<details class="filters" open>`, `name="country" value="FR" checked`,
			`name="pricing" value="pro-bono" checked`, `name="remote" value="on" checked`, `value="crm, civicrm"`,
			`<a href="/directory">Clear filters</a>`)
	})
}

func TestDirectoryPagination(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		for i := range 25 {
			n.dirAddPeer(t, fmt.Sprintf("peer%02d.example", i), directory.Coop{Name: fmt.Sprintf("Peer %02d Coop", i),
				Summary: "A peer.", Discoverable: true}, directory.Service{Title: "Translation", Category: "other"})
		}
		n.syncDirectory(t)

		rec := n.pageGet(t, "/directory", "")
		pageWantBody(t, rec, "28 coops found", "(page 1 of 2)", `<a href="/directory?page=2" rel="next">Next page</a>`)
		pageWantNoBody(t, rec, "Previous page")
		first := dirNames(rec.Body.String())
		if len(first) != 20 {
			t.Fatalf("%d results on page 1, want 20", len(first))
		}
		rec = n.pageGet(t, "/directory?page=2", "")
		pageWantBody(t, rec, "(page 2 of 2)", `<a href="/directory" rel="prev">Previous page</a>`, `<ol class="results" start="21">`)
		pageWantNoBody(t, rec, "Next page")
		second := dirNames(rec.Body.String())
		if len(second) != 8 {
			t.Fatalf("%d results on page 2, want 8", len(second))
		}
		seen := map[string]bool{}
		for _, name := range append(first, second...) {
			if seen[name] {
				t.Errorf("%s on both pages", name)
			}
			seen[name] = true
		}

		// The links keep the words and filters.
		rec = n.pageGet(t, "/directory?q=translation&accepting=on", "")
		pageWantBody(t, rec, "25 coops found", `href="/directory?accepting=on&amp;page=2&amp;q=translation" rel="next"`)
		rec = n.pageGet(t, "/directory?q=translation&accepting=on&page=2", "")
		pageWantBody(t, rec, `href="/directory?accepting=on&amp;q=translation" rel="prev"`)

		// Past the end: no results, and a way back.
		rec = n.pageGet(t, "/directory?page=9", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "There are no results on this page", `href="/directory?page=2"`)
	})
}

func TestDirectoryBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		for _, tc := range []struct{ query, want string }{
			{"category=plumbing", "Category: &#34;plumbing&#34; is not a category"},
			{"pricing=barter", "Pricing: &#34;barter&#34; is not a pricing model"},
			{"country=XX", "Country: &#34;XX&#34; is not an ISO 3166-1 country code"},
			{"country=Germany", "is not an ISO 3166-1 country code"},
			{"language=not_a_language!", "Language: &#34;not_a_language!&#34; is not a language tag"},
			{"page=0", "Page: must be a whole number from 1 to 1000"},
			{"page=abc", "Page: must be a whole number"},
			{"page=99999999999999999999999", "Page: must be a whole number"},
			{"limit=500", "Results per page: must be a whole number from 1 to 100"},
			{"page=2&offset=20", "Offset: give page or offset, not both"},
			{"remote=maybe", "Remote-friendly: must be true or false"},
			{"q=%22unbalanced", "Search words: "},
			{"q=" + strings.Repeat("word+", 2000), "Search words: "},
			{"q=%ff%00", "Search words: must be valid UTF-8 text"},
			{"skill=" + strings.Repeat("x", 101), "Skill: each entry must be at most 100 characters"},
		} {
			t.Run(tc.query[:min(len(tc.query), 30)], func(t *testing.T) {
				rec := n.pageGet(t, "/directory?"+tc.query, "")
				pageWantStatus(t, rec, http.StatusBadRequest)
				pageWantBody(t, rec, "Please change your search", tc.want, `<form method="get" action="/directory"`)
				pageWantNoBody(t, rec, "coops found")
			})
		}
		// The words stay in the box to be corrected.
		rec := n.pageGet(t, "/directory?q=%22web+design&country=XX", "")
		pageWantBody(t, rec, `value="&#34;web design"`, "Country: ")
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
