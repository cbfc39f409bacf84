package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// readNode is one node under test: a real store, federation wired to it and
// served over real HTTP on loopback, with one coop, alpha.
type readNode struct {
	f     *Federation
	store *directory.Store
	d     *db.DB
	coop  directory.Coop
	base  string // http://127.0.0.1:port
	host  string // 127.0.0.1:port
}

func newReadNode(t *testing.T, d *db.DB) *readNode {
	t.Helper()
	e := echo.New()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	store := directory.NewStore(d, bcrypt.MinCost)
	f, err := New(Config{DB: d, Directory: store, BaseURL: base, AllowPrivateAddresses: true, Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	f.Register(e)
	// What the web package does for the two URLs it shares with pages.
	e.GET("/coops/:slug", f.ServeActor)
	e.GET("/coops/:slug/services/:id", f.ServeService)
	coop, _, err := store.Setup(readCtx(t), directory.SetupInput{
		CoopName: "Alpha Workers", Slug: "alpha", AdminName: "Ada",
		AdminEmail: "ada@alpha.example", Password: "correct horse battery",
	}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &readNode{f: f, store: store, d: d, coop: coop, base: srv.URL, host: base.Host}
}

// readCtx bounds store calls: a publish hook that waited on SQLite's single
// write connection would otherwise hang the test instead of failing it.
func readCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get fetches path with an Accept header and returns the response and body.
func (n *readNode) get(t *testing.T, path, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// getJSON fetches path as ActivityPub, checks the status, and decodes.
func (n *readNode) getJSON(t *testing.T, path string, wantStatus int) map[string]any {
	t.Helper()
	resp, body := n.get(t, path, "application/activity+json")
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: status %d, want %d: %s", path, resp.StatusCode, wantStatus, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: not JSON: %v: %s", path, err, body)
	}
	return m
}

const asAccept = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

func TestReadWebFinger(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		actor := n.base + "/coops/alpha"
		for _, tc := range []struct {
			name, resource string
			status         int
			subject, self  string
		}{
			{"acct with port", "acct:alpha@" + n.host, 200, "acct:alpha@" + n.host, actor},
			{"case-insensitive", "acct:Alpha@" + strings.ToUpper(n.host), 200, "acct:alpha@" + n.host, actor},
			{"handle without acct", "@alpha@" + n.host, 200, "acct:alpha@" + n.host, actor},
			{"actor URL", actor, 200, "acct:alpha@" + n.host, actor},
			{"instance actor", "acct:" + n.host + "@" + n.host, 200, "acct:" + n.host + "@" + n.host, n.base + "/actor"},
			{"instance actor URL", n.base + "/actor", 200, "acct:" + n.host + "@" + n.host, n.base + "/actor"},
			{"wrong host", "acct:alpha@elsewhere.example", 404, "", ""},
			{"host without port", "acct:alpha@127.0.0.1", 404, "", ""},
			{"unknown coop", "acct:nobody@" + n.host, 404, "", ""},
			{"actor URL elsewhere", "https://elsewhere.example/coops/alpha", 404, "", ""},
			{"URL that is no actor", n.base + "/coops/alpha/outbox", 404, "", ""},
			{"missing", "", 400, "", ""},
			{"no host", "acct:alpha", 400, "", ""},
			{"no user", "acct:@" + n.host, 400, "", ""},
			{"empty host", "acct:alpha@", 400, "", ""},
			{"garbage", "acct:al pha@" + n.host, 400, "", ""},
			{"control characters", "acct:al\x00pha@" + n.host, 404, "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := "/.well-known/webfinger"
				if tc.resource != "" {
					path += "?resource=" + url.QueryEscape(tc.resource)
				}
				resp, body := n.get(t, path, "")
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
				}
				var doc jrd
				if err := json.Unmarshal(body, &doc); err != nil {
					t.Fatalf("not JSON: %s", body)
				}
				if tc.status != 200 {
					return
				}
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jrd+json") {
					t.Errorf("Content-Type %q", ct)
				}
				if doc.Subject != tc.subject {
					t.Errorf("subject %q, want %q", doc.Subject, tc.subject)
				}
				var self, profile string
				for _, l := range doc.Links {
					switch l.Rel {
					case "self":
						if l.Type == "application/activity+json" {
							self = l.Href
						}
					case profilePageRel:
						profile = l.Href
					}
				}
				if self != tc.self || profile == "" {
					t.Errorf("self %q (want %q), profile page %q", self, tc.self, profile)
				}
			})
		}
	})
}

func TestReadHostMetaAndNodeInfo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		for _, active := range []bool{true, true, false} {
			if _, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{Title: "Hosting", Category: "hosting", Pricing: "fixed", Active: active}); err != nil {
				t.Fatal(err)
			}
		}

		resp, body := n.get(t, "/.well-known/host-meta", "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xrd+xml") ||
			!strings.Contains(string(body), `template="`+n.base+`/.well-known/webfinger?resource={uri}"`) {
			t.Fatalf("host-meta: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}

		resp, body = n.get(t, "/.well-known/nodeinfo", "")
		var links struct{ Links []struct{ Rel, Href string } }
		if err := json.Unmarshal(body, &links); err != nil || resp.StatusCode != 200 || len(links.Links) != 2 {
			t.Fatalf("nodeinfo links: %d %s", resp.StatusCode, body)
		}
		for _, l := range links.Links {
			version := l.Href[strings.LastIndexByte(l.Href, '/')+1:]
			if l.Rel != "http://nodeinfo.diaspora.software/ns/schema/"+version || l.Href != n.base+"/nodeinfo/"+version {
				t.Errorf("link %+v", l)
			}
			resp, body := n.get(t, "/nodeinfo/"+version, "")
			if want := `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/` + version + `#"`; resp.Header.Get("Content-Type") != want {
				t.Errorf("%s: Content-Type %q, want %q", version, resp.Header.Get("Content-Type"), want)
			}
			var doc struct {
				Version           string
				Software          struct{ Name, Version, Repository string }
				Protocols         []string
				OpenRegistrations bool
				Usage             struct {
					Users struct {
						Total, ActiveMonth, ActiveHalfyear int
					}
					LocalPosts int
				}
				Metadata struct{ NodeName string }
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatalf("%s: %v: %s", version, err, body)
			}
			u := doc.Usage
			if doc.Version != version || doc.Software.Name != "coopnet" || doc.Software.Version != "1.2.3" ||
				!slices.Equal(doc.Protocols, []string{"activitypub"}) || doc.OpenRegistrations ||
				u.Users.Total != 1 || u.Users.ActiveMonth != 1 || u.Users.ActiveHalfyear != 1 || u.LocalPosts != 2 ||
				doc.Metadata.NodeName != "Alpha Workers" || (version == "2.1") != (doc.Software.Repository != "") {
				t.Errorf("%s: %s", version, body)
			}
		}
	})
}

// readContextOK checks a document's @context: ActivityStreams, security/v1
// (or Fedify loses the key) and inline definitions, and no other URL that a
// reader would have to fetch.
func readContextOK(t *testing.T, doc map[string]any) map[string]any {
	t.Helper()
	ctx, ok := doc["@context"].([]any)
	if !ok || len(ctx) != 3 || ctx[0] != activityStreamsContext || ctx[1] != securityContext {
		t.Fatalf("@context %v", doc["@context"])
	}
	terms, ok := ctx[2].(map[string]any)
	if !ok || terms["toot"] != "http://joinmastodon.org/ns#" || terms["PropertyValue"] != "schema:PropertyValue" {
		t.Fatalf("inline context %v", ctx[2])
	}
	return terms
}

func TestReadActor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		c := n.coop
		c.Summary = "We build **websites**."
		c.City, c.Country, c.RemoteFriendly = "Leipzig", "DE", true
		c.Languages, c.Skills = []string{"de", "en"}, []string{"Go", "PostgreSQL"}
		c.Website, c.ContactEmail = "https://alpha.example/", "hello@alpha.example"
		c.LegalForm, c.WorkerOwners, c.Capacity = "worker-coop", 7, directory.CapacityLimited
		c.ApproveFollowers = true
		c, err := n.store.UpdateCoop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.store.SetLogo(ctx, c.ID, "image/png", []byte("\x89PNG fake")); err != nil {
			t.Fatal(err)
		}

		resp, body := n.get(t, "/coops/alpha", asAccept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ActivityContentType ||
			!strings.Contains(resp.Header.Get("Vary"), "Accept") {
			t.Fatalf("actor: %d %q vary %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Vary"), body)
		}
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		readContextOK(t, doc)
		id := n.base + "/coops/alpha"
		for field, want := range map[string]any{
			"id": id, "type": "Organization", "preferredUsername": "alpha", "name": "Alpha Workers", "url": id,
			"inbox": id + "/inbox", "outbox": id + "/outbox", "followers": id + "/followers",
			"following": id + "/following", "services": id + "/services",
			"manuallyApprovesFollowers": true, "discoverable": true, "indexable": true,
			"summary": "<p>We build <strong>websites</strong>.</p>\n", "capacity": "limited",
			"remoteFriendly": true, "legalForm": "worker-coop", "sameAs": "https://alpha.example/",
		} {
			if got := doc[field]; got != want {
				t.Errorf("%s: %#v, want %#v", field, got, want)
			}
		}
		if ep, _ := doc["endpoints"].(map[string]any); ep["sharedInbox"] != n.base+"/inbox" {
			t.Errorf("endpoints %v", doc["endpoints"])
		}
		icon, _ := doc["icon"].(map[string]any)
		if icon["type"] != "Image" || icon["mediaType"] != "image/png" || !strings.HasPrefix(icon["url"].(string), id+"/logo?v=") {
			t.Errorf("icon %v", doc["icon"])
		}
		for _, f := range []string{"published", "updated"} {
			if _, err := time.Parse(time.RFC3339, doc[f].(string)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}

		// The key parses and is the one the node signs with.
		pk, _ := doc["publicKey"].(map[string]any)
		if pk["id"] != id+"#main-key" || pk["owner"] != id {
			t.Fatalf("publicKey %v", pk)
		}
		pub, err := ParsePublicKeyPEM(pk["publicKeyPem"].(string))
		if err != nil {
			t.Fatal(err)
		}
		key, err := n.f.keys.For(ctx, ActorPath("alpha"))
		if err != nil || !pub.Equal(&key.Private.PublicKey) {
			t.Fatalf("published key is not the signing key (%v)", err)
		}

		fields := map[string]string{}
		for _, a := range doc["attachment"].([]any) {
			pv := a.(map[string]any)
			if pv["type"] != "PropertyValue" {
				t.Errorf("attachment %v", pv)
			}
			fields[pv["name"].(string)] = pv["value"].(string)
		}
		for name, want := range map[string]string{
			"Location":       "Leipzig, Germany, remote work welcome",
			"Languages":      "German, English",
			"Skills":         "Go, PostgreSQL",
			"Accepting work": "Limited capacity",
			"Legal form":     "Worker cooperative",
			"Worker-owners":  "7",
			"Website":        `<a href="https://alpha.example/" rel="me nofollow noopener noreferrer" target="_blank">alpha.example</a>`,
			"Contact":        `<a href="mailto:hello@alpha.example">hello@alpha.example</a>`,
		} {
			if fields[name] != want {
				t.Errorf("field %s: %q, want %q", name, fields[name], want)
			}
		}

		// A browser-looking request or an unknown coop.
		if IsActivityRequest(&http.Request{Header: http.Header{"Accept": {"text/html,*/*;q=0.8"}}}) {
			t.Error("a browser's Accept asks for ActivityPub")
		}
		for _, path := range []string{"/coops/nobody", "/coops/NOT%20A%20SLUG", "/coops/nobody/outbox", "/coops/nobody/services"} {
			resp, body := n.get(t, path, asAccept)
			if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: %d %s", path, resp.StatusCode, body)
			}
		}
	})
}

func TestReadInstanceActor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		doc := n.getJSON(t, "/actor", 200)
		readContextOK(t, doc)
		if doc["type"] != "Application" || doc["id"] != n.base+"/actor" || doc["preferredUsername"] != n.host {
			t.Fatalf("instance actor %v", doc)
		}
		pk, _ := doc["publicKey"].(map[string]any)
		key, err := n.f.keys.For(readCtx(t), InstanceActorPath)
		if err != nil {
			t.Fatal(err)
		}
		if pk["id"] != n.base+"/actor#main-key" || pk["publicKeyPem"] != key.PublicPEM {
			t.Fatalf("publicKey %v", pk)
		}
		if out := n.getJSON(t, "/actor/outbox", 200); out["totalItems"] != 0.0 {
			t.Fatalf("instance outbox %v", out)
		}
	})
}

func TestReadService(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		min, max := int64(60), int64(90)
		svc, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{
			Title: "Green hosting", Description: "Servers *powered* by the sun.", Category: "hosting",
			Tags: []string{"solar", "linux"}, Pricing: "hourly", PriceMin: &min, PriceMax: &max, Currency: "EUR", Active: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		inactive, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{Title: "Old", Category: "other", Pricing: "fixed"})
		if err != nil {
			t.Fatal(err)
		}
		deleted, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{Title: "Gone", Category: "other", Pricing: "fixed", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.store.DeleteService(ctx, n.coop.ID, deleted.ID); err != nil {
			t.Fatal(err)
		}
		path := func(id int64) string { return "/coops/alpha/services/" + readItoa(id) }

		doc := n.getJSON(t, path(svc.ID), 200)
		readContextOK(t, doc)
		id := n.base + path(svc.ID)
		for field, want := range map[string]any{
			"id": id, "type": ServiceType, "name": "Green hosting", "url": id,
			"attributedTo": n.base + "/coops/alpha", "serviceType": "hosting", "pricingModel": "hourly",
			"content": "<p>Servers <em>powered</em> by the sun.</p>\n", "mediaType": "text/html",
		} {
			if doc[field] != want {
				t.Errorf("%s: %#v, want %#v", field, doc[field], want)
			}
		}
		price, _ := doc["priceSpecification"].(map[string]any)
		if price["type"] != "PriceSpecification" || price["minPrice"] != 60.0 || price["maxPrice"] != 90.0 || price["priceCurrency"] != "EUR" {
			t.Errorf("priceSpecification %v", doc["priceSpecification"])
		}
		if src, _ := doc["source"].(map[string]any); src["content"] != "Servers *powered* by the sun." || src["mediaType"] != "text/markdown" {
			t.Errorf("source %v", doc["source"])
		}
		if kw, _ := json.Marshal(doc["keywords"]); string(kw) != `["solar","linux"]` {
			t.Errorf("keywords %s", kw)
		}

		for _, gone := range []int64{inactive.ID, deleted.ID} {
			doc := n.getJSON(t, path(gone), 410)
			if doc["type"] != "Tombstone" || doc["formerType"] != ServiceType || doc["id"] != n.base+path(gone) {
				t.Errorf("gone service %d: %v", gone, doc)
			}
		}
		for _, p := range []string{path(99999), "/coops/alpha/services/abc", "/coops/alpha/services/-1", "/coops/nobody/services/1"} {
			if resp, body := n.get(t, p, asAccept); resp.StatusCode != 404 {
				t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			}
		}
	})
}

func TestReadCollections(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		now := time.Now().UTC().Truncate(time.Second)
		for i := range 48 {
			state := "accepted"
			if i%16 == 0 {
				state = "pending" // three of them: never shown
			}
			actor := "https://peer.example/users/u" + readItoa(int64(i))
			if _, err := d.Exec(ctx, `INSERT INTO followers (coop_id, actor_id, follow_id, state, created_at) VALUES ($1, $2, $3, $4, $5)`,
				n.coop.ID, actor, actor+"#follow", state, now.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := d.Exec(ctx, `INSERT INTO following (coop_id, actor_id, follow_id, state, created_at, updated_at) VALUES
			($1, 'https://peer.example/coops/beta', 'f1', 'accepted', $2, $2), ($1, 'https://peer.example/coops/gamma', 'f2', 'pending', $2, $2)`,
			n.coop.ID, now); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{Title: "S" + readItoa(int64(i)), Category: "other", Pricing: "fixed", Active: i != 1}); err != nil {
				t.Fatal(err)
			}
		}

		coll := n.base + "/coops/alpha/followers"
		top := n.getJSON(t, "/coops/alpha/followers", 200)
		readContextOK(t, top)
		if top["type"] != "OrderedCollection" || top["id"] != coll || top["totalItems"] != 45.0 ||
			top["first"] != coll+"?page=1" || top["last"] != coll+"?page=3" {
			t.Fatalf("followers %v", top)
		}
		var seen []string
		for _, tc := range []struct {
			page       string
			items      int
			prev, next string
		}{
			{"1", 20, "", coll + "?page=2"},
			{"2", 20, coll + "?page=1", coll + "?page=3"},
			{"3", 5, coll + "?page=2", ""},
		} {
			p := n.getJSON(t, "/coops/alpha/followers?page="+tc.page, 200)
			items, _ := p["orderedItems"].([]any)
			next, _ := p["next"].(string)
			prev, _ := p["prev"].(string)
			if p["type"] != "OrderedCollectionPage" || p["partOf"] != coll || p["id"] != coll+"?page="+tc.page ||
				len(items) != tc.items || next != tc.next || prev != tc.prev {
				t.Errorf("page %s: %v", tc.page, p)
			}
			for _, it := range items {
				seen = append(seen, it.(string))
			}
		}
		if len(seen) != 45 || seen[0] != "https://peer.example/users/u47" || slices.Contains(seen, "https://peer.example/users/u16") {
			t.Errorf("followers listed: %d, first %q", len(seen), seen[0])
		}
		if p := n.getJSON(t, "/coops/alpha/followers?page=true", 200); p["id"] != coll+"?page=1" {
			t.Errorf("page=true: %v", p["id"])
		}
		for page, status := range map[string]int{"0": 400, "-1": 400, "abc": 400, "4": 404, "99999999999999999999": 400} {
			resp, body := n.get(t, "/coops/alpha/followers?page="+page, "")
			if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("page=%s: %d %s", page, resp.StatusCode, body)
			}
		}

		following := n.getJSON(t, "/coops/alpha/following?page=1", 200)
		if items, _ := following["orderedItems"].([]any); len(items) != 1 || items[0] != "https://peer.example/coops/beta" {
			t.Errorf("following %v", following)
		}

		services := n.getJSON(t, "/coops/alpha/services?page=1", 200)
		items, _ := services["orderedItems"].([]any)
		if services["totalItems"] != 2.0 || len(items) != 2 || items[0].(map[string]any)["name"] != "S2" || items[0].(map[string]any)["@context"] != nil {
			t.Errorf("services %v", services)
		}

		// The outbox holds the services' Creates and Notes, newest first,
		// embedded without their own @context.
		outbox := n.getJSON(t, "/coops/alpha/outbox?page=1", 200)
		items, _ = outbox["orderedItems"].([]any)
		if outbox["totalItems"] != 4.0 || len(items) != 4 {
			t.Fatalf("outbox %v", outbox)
		}
		first := items[0].(map[string]any)
		if first["@context"] != nil || first["type"] != "Create" || first["object"].(map[string]any)["type"] != "Note" {
			t.Errorf("outbox item %v", first)
		}
		empty := n.getJSON(t, "/coops/alpha/following?page=1", 200)
		if empty["prev"] != nil || empty["next"] != nil {
			t.Errorf("single page links %v", empty)
		}
	})
}

func TestReadContextDocument(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		resp, body := n.get(t, "/ns", "")
		var doc struct {
			Context map[string]any `json:"@context"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || resp.StatusCode != 200 ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/ld+json") {
			t.Fatalf("/ns: %d %s", resp.StatusCode, body)
		}
		if doc.Context["coopnet"] != Namespace || doc.Context["serviceType"] != "schema:serviceType" {
			t.Errorf("/ns %v", doc.Context)
		}
	})
}

func TestIsActivityRequest(t *testing.T) {
	for accept, want := range map[string]bool{
		"application/activity+json":                true,
		"application/activity+json; charset=utf-8": true,
		asAccept:              true,
		"application/ld+json": true,
		"text/html, application/activity+json;q=0.9":                      true,
		"application/activity+json;q=0":                                   false,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
		"application/json":                                                false,
		"":                                                                false,
		"garbage;;;":                                                      false,
	} {
		r := &http.Request{Header: http.Header{}}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := IsActivityRequest(r); got != want {
			t.Errorf("%q: %v, want %v", accept, got, want)
		}
	}
}

func readItoa(i int64) string { return strconv.FormatInt(i, 10) }
