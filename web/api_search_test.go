package web

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestAPISearch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)

		rec := n.apiCall(t, http.MethodGet, "/api/v1/search?q=civicrm", "", "")
		res := apiRead[searchJSON](t, rec, http.StatusOK)
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=30" {
			t.Errorf("Cache-Control %q", cc)
		}
		if res.Total < 1 || res.Page != 1 || res.PerPage != 20 || res.Relaxed || len(res.Results) != res.Total {
			t.Fatalf("page %+v", res)
		}
		b := res.Results[0]
		if b.Name != "Beta Data Coop" || b.Slug != "beta" || b.Handle != "beta@beta.example" || b.Local ||
			b.ProfileURL != "https://beta.example/coops/beta" || b.RequestURL != "https://beta.example/coops/beta#request-work" ||
			b.City != "Lyon" || b.Country != "FR" || strings.Join(b.Languages, ",") != "fr" || b.Capacity != "limited" ||
			b.Stale || b.UnreachableSince != nil || b.Score <= 0 {
			t.Errorf("beta %+v", b)
		}
		if len(b.Services) != 1 || b.Services[0].Title != "CiviCRM migration" || b.Services[0].Category != "data-crm" ||
			b.Services[0].Pricing != "pro-bono" || b.Services[0].URL != "https://beta.example/coops/beta/services/1" {
			t.Errorf("beta's services %+v", b.Services)
		}
		if len(b.Matched) == 0 || !strings.Contains(strings.ToLower(b.Matched[0].Text), "civicrm") {
			t.Errorf("matched %+v", b.Matched)
		}

		rec = n.apiCall(t, http.MethodGet, "/api/v1/search?q=wordpress", "", "")
		res = apiRead[searchJSON](t, rec, http.StatusOK)
		a := res.Results[0]
		if a.Name != "Alpha Tech Coop" || !a.Local || a.Handle != "alpha@localhost:8080" ||
			a.ProfileURL != "http://localhost:8080/coops/alpha" || a.RequestURL != "http://localhost:8080/coops/alpha#request-work" ||
			!a.RemoteFriendly || len(a.Services) != 1 ||
			a.Services[0].URL != fmt.Sprintf("http://localhost:8080/coops/alpha/services/%d", n.alphaSvc) {
			t.Errorf("alpha %+v", a)
		}
		for _, r := range res.Results {
			if r.Name == "Hidden Web Coop" || r.Name == "Delta Quiet Coop" {
				t.Errorf("%s is listed", r.Name)
			}
		}

		rec = n.apiCall(t, http.MethodGet, "/api/v1/search?country=CA", "", "")
		res = apiRead[searchJSON](t, rec, http.StatusOK)
		if len(res.Results) != 1 || !res.Results[0].Stale || res.Results[0].UnreachableSince == nil ||
			!res.Results[0].UnreachableSince.Equal(n.gammaDown) {
			t.Errorf("gamma %+v", res.Results)
		}
		if res.Facets != nil {
			t.Errorf("facets counted without facets=true: %+v", res.Facets)
		}
		rec = n.apiCall(t, http.MethodGet, "/api/v1/search?country=CA&facets=true", "", "")
		res = apiRead[searchJSON](t, rec, http.StatusOK)
		if len(res.Results) != 1 || res.Facets == nil {
			t.Fatalf("facets=true: %+v", res)
		}
		if !apiHasFacet(res.Facets.Countries, "CA", "Canada", 1) || !apiHasFacet(res.Facets.Countries, "FR", "France", 1) {
			t.Errorf("country facets, counted without the country filter: %+v", res.Facets.Countries)
		}
		if !apiHasFacet(res.Facets.Categories, "hosting", "Hosting", 1) || apiHasFacet(res.Facets.Categories, "data-crm", "Data and CRM", 1) {
			t.Errorf("category facets %+v", res.Facets.Categories)
		}
		if !apiHasFacet(res.Facets.Languages, "fr", "French", 1) || !apiHasFacet(res.Facets.Pricing, "hourly", "Hourly rate", 1) {
			t.Errorf("facets %+v", res.Facets)
		}

		// offset and limit page as well as page does.
		res = apiRead[searchJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/search?limit=2&offset=2", "", ""), http.StatusOK)
		if res.Total != 3 || len(res.Results) != 1 || res.Page != 2 || res.PerPage != 2 || res.Offset != 2 {
			t.Errorf("offset 2 limit 2: %+v", res)
		}
		res = apiRead[searchJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/search?limit=2&page=2", "", ""), http.StatusOK)
		if len(res.Results) != 1 || res.Offset != 2 {
			t.Errorf("page 2 limit 2: %+v", res)
		}
	})
}

// TestAPISearchShape checks the names of the answer's fields, as clients
// read them.
func TestAPISearchShape(t *testing.T) {
	n := newDirNode(t, testdb.SQLite(t))
	raw := apiRead[map[string]any](t, n.apiCall(t, http.MethodGet, "/api/v1/search?q=hosting", "", ""), http.StatusOK)
	wantKeys(t, "answer without facets", raw, "total", "page", "per_page", "offset", "relaxed", "results")
	raw = apiRead[map[string]any](t, n.apiCall(t, http.MethodGet, "/api/v1/search?q=hosting&facets=1", "", ""), http.StatusOK)
	wantKeys(t, "answer", raw, "total", "page", "per_page", "offset", "relaxed", "results", "facets")
	r := raw["results"].([]any)[0].(map[string]any)
	wantKeys(t, "result", r, "name", "slug", "handle", "local", "profile_url", "request_url", "summary", "city", "region",
		"country", "languages", "capacity", "remote_friendly", "stale", "unreachable_since", "services", "matched", "score")
	wantKeys(t, "service", r["services"].([]any)[0].(map[string]any), "title", "category", "tags", "pricing", "url")
	wantKeys(t, "match", r["matched"].([]any)[0].(map[string]any), "field", "text")
	f := raw["facets"].(map[string]any)
	wantKeys(t, "facets", f, "categories", "countries", "languages", "pricing")
	wantKeys(t, "facet", f["categories"].([]any)[0].(map[string]any), "value", "label", "count")
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("%s has %d fields, want %d: %v", what, len(m), len(keys), m)
	}
}

func apiHasFacet(list []facetJSON, value, label string, count int) bool {
	for _, f := range list {
		if f.Value == value {
			return f.Label == label && f.Count == count
		}
	}
	return false
}

func TestAPISearchBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		for _, tc := range []struct {
			query  string
			fields []string
		}{
			{"category=plumbing", []string{"category"}},
			{"pricing=barter&country=XX", []string{"pricing", "country"}},
			{"language=%21%21", []string{"language"}},
			{"page=0", []string{"page"}},
			{"page=x&limit=0", []string{"page", "limit"}},
			{"offset=-1", []string{"offset"}},
			{"offset=1&page=1", []string{"offset"}},
			{"accepting=perhaps", []string{"accepting"}},
			{"facets=all", []string{"facets"}},
			{"q=%22open+quote", []string{"q"}},
			{"q=%ff", []string{"q"}},
		} {
			t.Run(tc.query, func(t *testing.T) {
				rec := n.apiCall(t, http.MethodGet, "/api/v1/search?"+tc.query, "", "")
				e := apiWantError(t, rec, http.StatusBadRequest, tc.fields...)
				for _, f := range tc.fields {
					if e.Fields[f] == "" {
						t.Errorf("no message for %s", f)
					}
				}
			})
		}
	})
}

func TestDirectoryExports(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newDirNode(t, d)
		// Text from peers that a spreadsheet would run as formulas.
		n.dirAddPeer(t, "evil.example", directory.Coop{Name: `=HYPERLINK("https://evil.example","click")`,
			City: "+1 city", Region: "@region", Skills: []string{"-2+3"}, Discoverable: true},
			directory.Service{Title: "=1+1", Category: "other"})
		n.syncDirectory(t)

		rec := n.pageGet(t, "/directory.csv", "")
		pageWantStatus(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		wantDownload(t, rec, ".csv")
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rows[0], ",") != "name,handle,profile_url,country,region,city,languages,capacity,remote_friendly,skills,services,service_categories,stale" {
			t.Errorf("header %v", rows[0])
		}
		byName := map[string][]string{}
		for _, r := range rows[1:] {
			byName[r[0]] = r
		}
		if len(rows) != 5 || byName["Hidden Web Coop"] != nil || byName["Delta Quiet Coop"] != nil {
			t.Fatalf("rows %v", rows)
		}
		if got := strings.Join(byName["Alpha Tech Coop"], "|"); got !=
			"Alpha Tech Coop|alpha@localhost:8080|http://localhost:8080/coops/alpha|DE||Leipzig|de; en|open|true|Accessibility; PHP|WordPress websites|web-development|false" {
			t.Errorf("alpha's row %s", got)
		}
		if g := byName["Gamma Hosting Coop"]; g == nil || g[12] != "true" || g[1] != "gamma@gamma.example" ||
			g[2] != "https://gamma.example/coops/gamma" {
			t.Errorf("gamma's row %v", g)
		}
		evil := byName[`'=HYPERLINK("https://evil.example","click")`]
		if evil == nil || evil[4] != "'@region" || evil[5] != "'+1 city" || evil[9] != "'-2+3" || evil[10] != "'=1+1" {
			t.Errorf("formulas not defused: %v", rows)
		}

		rec = n.pageGet(t, "/directory.json", "")
		pageWantStatus(t, rec, http.StatusOK)
		wantDownload(t, rec, ".json")
		export := apiRead[exportJSON](t, rec, http.StatusOK)
		if export.Total != 4 || len(export.Coops) != 4 || export.GeneratedAt.IsZero() {
			t.Fatalf("export %+v", export)
		}
		exported := map[string]exportCoopJSON{}
		for _, c := range export.Coops {
			exported[c.Name] = c
		}
		a := exported["Alpha Tech Coop"]
		if a.Name != "Alpha Tech Coop" || !a.Local || a.ProfileURL != "http://localhost:8080/coops/alpha" ||
			len(a.Services) != 1 || a.Services[0].Title != "WordPress websites" || a.Services[0].Category != "web-development" ||
			strings.Join(a.Skills, ",") != "Accessibility,PHP" {
			t.Errorf("alpha %+v", a)
		}
		raw := apiRead[map[string]any](t, rec, http.StatusOK)
		wantKeys(t, "coop", raw["coops"].([]any)[1].(map[string]any), "name", "handle", "local", "profile_url", "country",
			"region", "city", "languages", "capacity", "remote_friendly", "skills", "services", "stale")

		// The API serves the same, to read rather than to download.
		rec = n.apiCall(t, http.MethodGet, "/api/v1/directory", "", "")
		again := apiRead[exportJSON](t, rec, http.StatusOK)
		if len(again.Coops) != 4 || again.Coops[3].Name != export.Coops[3].Name || again.Coops[3].Name != "Gamma Hosting Coop" {
			t.Errorf("API export %+v", again)
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != "" {
			t.Errorf("API answer is a download: %q", cd)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("Cache-Control %q", cc)
		}
	})
}

func wantDownload(t *testing.T, rec interface{ Header() http.Header }, ext string) {
	t.Helper()
	if cd := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="coopnet-directory-`) ||
		!strings.HasSuffix(cd, ext+`"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
}

func TestOpenSearchDescription(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/opensearch.xml", "")
	pageWantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/opensearchdescription+xml") {
		t.Errorf("Content-Type %q", ct)
	}
	var doc openSearchDescription
	if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, rec.Body)
	}
	if doc.XMLName.Space != openSearchNS || doc.ShortName != "Alpha Tech Coop" || doc.InputEncoding != "UTF-8" {
		t.Errorf("description %+v", doc)
	}
	templates := map[string]string{}
	for _, u := range doc.URLs {
		templates[u.Type] = u.Template
	}
	if templates["text/html"] != "http://localhost:8080/directory?q={searchTerms}" ||
		templates["application/json"] != "http://localhost:8080/api/v1/search?q={searchTerms}" {
		t.Errorf("templates %v", templates)
	}

	// A node with several coops is named after its host.
	if _, err := n.store.CreateCoop(context.Background(), directory.Coop{Slug: "second", Name: "A Second Coop With A Long Name",
		Capacity: directory.CapacityOpen}); err != nil {
		t.Fatal(err)
	}
	rec = n.pageGet(t, "/opensearch.xml", "")
	if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.ShortName != "localhost" {
		t.Errorf("ShortName %q, %v", doc.ShortName, err)
	}
	if got := shorten("A Second Coop With A Long Name", 16); got != "A Second Coop Wi" {
		t.Errorf("shorten: %q", got)
	}
}
