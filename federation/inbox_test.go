package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-fed/activity/streams"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// Fixtures for the inbox tests: a coopnet node (real echo server on
// loopback, f.Register, a real database) and fake peers (httptest servers
// serving an actor, WebFinger and a services collection, and signing what
// they post with their own key).

// inNode is the node under test, with its coop alpha.
type inNode struct {
	f     *Federation
	store *directory.Store
	d     *db.DB
	coop  directory.Coop
	base  string
}

func newInNode(t testing.TB, d *db.DB) *inNode {
	t.Helper()
	return newInNodeWith(t, d, nil)
}

// newInNodeWith is newInNode with refs as its referrals store (nil: none).
func newInNodeWith(t testing.TB, d *db.DB, refs *referrals.Store) *inNode {
	t.Helper()
	e := echo.New()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	store := directory.NewStore(d, bcrypt.MinCost)
	f, err := New(Config{DB: d, Directory: store, Referrals: refs, BaseURL: base, AllowPrivateAddresses: true, Logger: inLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f.Register(e)
	e.GET("/coops/:slug", f.ServeActor)
	coop, _, err := store.Setup(context.Background(), directory.SetupInput{
		CoopName: "Alpha Workers", Slug: "alpha", AdminName: "Ada", AdminEmail: "ada@alpha.example",
		Password: "correct horse battery",
	}, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &inNode{f: f, store: store, d: d, coop: coop, base: srv.URL}
}

func (n *inNode) actorID() string { return n.base + "/coops/alpha" }

// count runs a COUNT query.
func (n *inNode) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var c int
	if err := n.d.QueryRow(context.Background(), query, args...).Scan(&c); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return c
}

// activitiesOf returns the bodies of the coop's stored activities of a type.
func (n *inNode) activitiesOf(t testing.TB, typ string) []map[string]any {
	t.Helper()
	rows, err := n.d.Query(context.Background(), `SELECT body FROM activities WHERE type = $1 ORDER BY id`, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// inLogger logs through the test's output until the test ends; background
// work that logs later (a peer read after an Accept) is not a test failure.
func inLogger(t testing.TB) *slog.Logger {
	w := &inLogWriter{w: t.Output()}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type inLogWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (l *inLogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return len(p), nil
	}
	return l.w.Write(p)
}

// await polls cond until it holds: tests wait for events, never for time.
func await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakePeer is another server: one coop actor (an Organization) with a key,
// WebFinger, a services collection over two pages (the second naming its
// service by IRI), and inboxes that record what they receive.
type fakePeer struct {
	t    testing.TB
	srv  *httptest.Server
	slug string

	mu          sync.Mutex
	key         *rsa.PrivateKey
	actorTweak  func(doc map[string]any)
	keyObject   bool // serve the key at …/main-key as a key object (GoToSocial-like)
	services    []map[string]any
	received    []map[string]any
	getSigs     map[string]string // Signature header of each GET, by path
	actorFetch  atomic.Int32
	activitySeq atomic.Int32
}

func newFakePeer(t testing.TB, slug string, key *rsa.PrivateKey) *fakePeer {
	t.Helper()
	p := &fakePeer{t: t, slug: slug, key: key}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	for i := 1; i <= 3; i++ {
		p.services = append(p.services, p.service(i, fmt.Sprintf("Service %d", i)))
	}
	return p
}

func (p *fakePeer) host() string    { return strings.TrimPrefix(p.srv.URL, "http://") }
func (p *fakePeer) actorID() string { return p.srv.URL + "/coops/" + p.slug }
func (p *fakePeer) handle() string  { return p.slug + "@" + p.host() }

func (p *fakePeer) keyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keyObject {
		return p.actorID() + "/main-key"
	}
	return p.actorID() + "#main-key"
}

// service is a Service object as coopnet publishes it (objects.go).
func (p *fakePeer) service(n int, title string) map[string]any {
	id := fmt.Sprintf("%s/services/%d", p.actorID(), n)
	return map[string]any{
		"id": id, "type": ServiceType, "name": title, "url": id, "attributedTo": p.actorID(),
		"content": "<p>We do <b>" + title + "</b>.</p>", "mediaType": "text/html",
		"source":      map[string]any{"content": "We do **" + title + "**.", "mediaType": "text/markdown"},
		"serviceType": "web-development", "pricingModel": "hourly", "keywords": []any{"go", "sql"},
		"priceSpecification": map[string]any{"type": "PriceSpecification", "minPrice": 50, "maxPrice": 90, "priceCurrency": "EUR"},
	}
}

func (p *fakePeer) actorDoc() map[string]any {
	pemKey, err := PublicKeyPEM(&p.key.PublicKey)
	if err != nil {
		p.t.Fatal(err)
	}
	id := p.actorID()
	doc := map[string]any{
		"@context": []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1",
			map[string]any{"schema": "http://schema.org#", "PropertyValue": "schema:PropertyValue"}},
		"id": id, "type": "Organization", "preferredUsername": p.slug, "name": "Beta Builders",
		"summary": "<p>We build.</p>", "source": map[string]any{"content": "We **build**.", "mediaType": "text/markdown"},
		"url": id, "inbox": id + "/inbox", "outbox": id + "/outbox", "followers": id + "/followers",
		"services":  id + "/services",
		"endpoints": map[string]any{"sharedInbox": p.srv.URL + "/inbox"},
		"publicKey": map[string]any{"id": id + "#main-key", "owner": id, "publicKeyPem": pemKey},
		"icon":      map[string]any{"type": "Image", "url": id + "/logo?v=1"},
		"attachment": []any{
			map[string]any{"type": "PropertyValue", "name": "Location", "value": "Leipzig, Germany"},
		},
		"address":       map[string]any{"type": "PostalAddress", "addressLocality": "Leipzig", "addressCountry": "DE"},
		"knowsLanguage": []any{"de", "en"}, "knowsAbout": []any{"Go", "Postgres"}, "capacity": "limited",
		"discoverable": true, "manuallyApprovesFollowers": false,
	}
	if p.keyObject {
		doc["publicKey"] = map[string]any{"id": id + "/main-key", "owner": id, "publicKeyPem": pemKey}
	}
	if p.actorTweak != nil {
		p.actorTweak(doc)
	}
	return doc
}

func (p *fakePeer) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.actorID()
	write := func(v any) {
		w.Header().Set("Content-Type", "application/activity+json")
		json.NewEncoder(w).Encode(v)
	}
	if r.Method == http.MethodGet {
		if p.getSigs == nil {
			p.getSigs = map[string]string{}
		}
		p.getSigs[r.URL.Path] = r.Header.Get("Signature")
	}
	switch path := r.URL.Path; {
	case path == "/.well-known/webfinger":
		if r.URL.Query().Get("resource") != "acct:"+p.handle() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jrd+json")
		json.NewEncoder(w).Encode(map[string]any{"subject": "acct:" + p.handle(), "links": []any{
			map[string]any{"rel": "self", "type": "application/activity+json", "href": id},
		}})
	case path == "/coops/"+p.slug:
		p.actorFetch.Add(1)
		write(p.actorDoc())
	case path == "/coops/"+p.slug+"/main-key" && p.keyObject:
		p.actorFetch.Add(1)
		pemKey, _ := PublicKeyPEM(&p.key.PublicKey)
		write(map[string]any{"@context": "https://w3id.org/security/v1", "id": id + "/main-key", "owner": id, "publicKeyPem": pemKey})
	case path == "/coops/"+p.slug+"/services":
		switch r.URL.Query().Get("page") {
		case "":
			write(map[string]any{"id": id + "/services", "type": "OrderedCollection", "totalItems": len(p.services), "first": id + "/services?page=1"})
		case "1":
			items := []any{}
			for _, s := range p.services[:min(2, len(p.services))] {
				items = append(items, s)
			}
			write(map[string]any{"id": id + "/services?page=1", "type": "OrderedCollectionPage", "orderedItems": items, "next": id + "/services?page=2"})
		default:
			items := []any{}
			for _, s := range p.services[min(2, len(p.services)):] {
				items = append(items, s["id"])
			}
			write(map[string]any{"id": id + "/services?page=2", "type": "OrderedCollectionPage", "orderedItems": items})
		}
	case strings.HasPrefix(path, "/coops/"+p.slug+"/services/"):
		for _, s := range p.services {
			if s["id"] == p.srv.URL+path {
				write(s)
				return
			}
		}
		http.NotFound(w, r)
	case r.Method == http.MethodPost && (path == "/inbox" || path == "/coops/"+p.slug+"/inbox"):
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		m["_signature"] = r.Header.Get("Signature")
		p.received = append(p.received, m)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// receivedOf returns the activities of a type the peer received.
func (p *fakePeer) receivedOf(typ string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, m := range p.received {
		if m["type"] == typ {
			out = append(out, m)
		}
	}
	return out
}

func (p *fakePeer) setKey(k *rsa.PrivateKey) { p.mu.Lock(); p.key = k; p.mu.Unlock() }

// activity builds an activity of the peer's actor with a fresh id.
func (p *fakePeer) activity(typ string, object any) map[string]any {
	return map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams",
		"id":       fmt.Sprintf("%s/activities/%d", p.srv.URL, p.activitySeq.Add(1)),
		"type":     typ,
		"actor":    p.actorID(),
		"object":   object,
	}
}

// sendOpts change how the peer posts, to test what the inbox refuses.
type sendOpts struct {
	contentType string
	key         *rsa.PrivateKey // sign with this key instead of the peer's
	keyID       string
	date        time.Time
	unsigned    bool
	rfc9421     bool
	tamper      func(body []byte) []byte // change the body after signing
}

// post sends body to the node at path, signed, and returns the status.
func (p *fakePeer) post(t testing.TB, n *inNode, path string, act any, o sendOpts) int {
	t.Helper()
	body, ok := act.([]byte)
	if !ok {
		var err error
		if body, err = json.Marshal(act); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, n.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if o.contentType != "" {
		req.Header.Set("Content-Type", o.contentType)
	}
	p.mu.Lock()
	key := p.key
	p.mu.Unlock()
	if o.key != nil {
		key = o.key
	}
	keyID := p.keyID()
	if o.keyID != "" {
		keyID = o.keyID
	}
	date := time.Now()
	if !o.date.IsZero() {
		date = o.date
	}
	switch {
	case o.unsigned:
	case o.rfc9421:
		signRFC9421(t.(*testing.T), req, body, keyID, key, date)
	default:
		if err := SignRequest(req, body, keyID, key, date); err != nil {
			t.Fatal(err)
		}
	}
	if o.tamper != nil {
		body = o.tamper(body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// mustPost posts and checks the status.
func (p *fakePeer) mustPost(t testing.TB, n *inNode, act any, want int) {
	t.Helper()
	if got := p.post(t, n, "/coops/alpha/inbox", act, sendOpts{}); got != want {
		t.Fatalf("POST %v: status %d, want %d", act, got, want)
	}
}

// otherKey is a key nobody publishes, for forgeries.
func otherKey(t testing.TB) *rsa.PrivateKey {
	_, k := keys(t)
	return k
}

// peerKey is the fake peers' key.
func peerKey(t testing.TB) *rsa.PrivateKey {
	k, _ := keys(t)
	return k
}

func TestInboxFollowIsAcceptedAndDelivered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		follow := peer.activity("Follow", n.actorID())
		peer.mustPost(t, n, follow, http.StatusAccepted)

		if c := n.count(t, `SELECT COUNT(*) FROM followers WHERE actor_id = $1 AND state = 'accepted' AND follow_id = $2`,
			peer.actorID(), follow["id"]); c != 1 {
			t.Fatalf("%d accepted follower rows", c)
		}
		accepts := n.activitiesOf(t, "Accept")
		if len(accepts) != 1 {
			t.Fatalf("%d Accepts stored", len(accepts))
		}
		obj, _ := accepts[0]["object"].(map[string]any)
		if obj["id"] != follow["id"] || obj["actor"] != peer.actorID() || accepts[0]["actor"] != n.actorID() {
			t.Errorf("Accept is %v", accepts[0])
		}

		// The same Follow again (a retry): 202, applied once.
		peer.mustPost(t, n, follow, http.StatusAccepted)
		if c := len(n.activitiesOf(t, "Accept")); c != 1 {
			t.Errorf("replayed Follow: %d Accepts", c)
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen`); c != 1 {
			t.Errorf("%d inbox_seen rows", c)
		}

		// The delivery queue sends the Accept, signed, to the follower.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := n.f.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.f.Stop(context.Background()) })
		await(t, "the Accept at the follower", func() bool { return len(peer.receivedOf("Accept")) == 1 })
		if got := peer.receivedOf("Accept")[0]; got["_signature"] == "" {
			t.Error("Accept delivered unsigned")
		}
	})
}

func TestInboxSameActivityAtOnce(t *testing.T) {
	// Eight copies of one Follow at the same moment (a sender retrying
	// while the first is still in flight): all 202, applied once.
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		peer.mustPost(t, n, peer.activity("Undo", "https://nowhere.example/x"), http.StatusAccepted) // warm the key
		follow := peer.activity("Follow", n.actorID())
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = peer.post(t, n, "/inbox", follow, sendOpts{})
			}()
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusAccepted {
				t.Errorf("copy %d: status %d", i, s)
			}
		}
		if c := len(n.activitiesOf(t, "Accept")); c != 1 {
			t.Errorf("%d Accepts for one Follow", c)
		}
	})
}

func TestInboxRefusesBadSignatures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		gamma := newFakePeer(t, "gamma", otherKey(t))
		for _, tc := range []struct {
			name string
			act  map[string]any
			o    sendOpts
		}{
			{"unsigned", peer.activity("Follow", n.actorID()), sendOpts{unsigned: true}},
			{"forged", peer.activity("Follow", n.actorID()), sendOpts{key: otherKey(t)}},
			{"key of another actor", peer.activity("Follow", n.actorID()), sendOpts{key: otherKey(t), keyID: gamma.keyID()}},
			{"stale date", peer.activity("Follow", n.actorID()), sendOpts{date: time.Now().Add(-13 * time.Hour)}},
			{"future date", peer.activity("Follow", n.actorID()), sendOpts{date: time.Now().Add(2 * time.Hour)}},
			{"body changed", peer.activity("Follow", n.actorID()), sendOpts{tamper: func(b []byte) []byte {
				return bytes.Replace(b, []byte("Follow"), []byte("Flolow"), 1)
			}}},
			{"unknown key", peer.activity("Follow", n.actorID()), sendOpts{keyID: peer.srv.URL + "/nobody#main-key"}},
		} {
			if got := peer.post(t, n, "/coops/alpha/inbox", tc.act, tc.o); got != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", tc.name, got)
			}
		}
		for _, table := range []string{"inbox_seen", "followers", "activities"} {
			if c := n.count(t, `SELECT COUNT(*) FROM `+table); c != 0 {
				t.Errorf("%d rows in %s after refusals", c, table)
			}
		}
	})
}

func TestInboxLimitsAndForms(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		big := peer.activity("Follow", n.actorID())
		big["padding"] = strings.Repeat("x", maxInboxBody)
		noActor := peer.activity("Follow", n.actorID())
		delete(noActor, "actor")
		for _, tc := range []struct {
			name string
			path string
			act  any
			o    sendOpts
			want int
		}{
			{"oversized", "/coops/alpha/inbox", big, sendOpts{}, http.StatusRequestEntityTooLarge},
			{"text/plain", "/coops/alpha/inbox", peer.activity("Follow", n.actorID()), sendOpts{contentType: "text/plain"}, http.StatusUnsupportedMediaType},
			{"plain JSON", "/coops/alpha/inbox", peer.activity("Follow", n.actorID()), sendOpts{contentType: "application/json"}, http.StatusUnsupportedMediaType},
			{"ld+json without profile", "/coops/alpha/inbox", peer.activity("Follow", n.actorID()), sendOpts{contentType: "application/ld+json"}, http.StatusUnsupportedMediaType},
			{"invalid JSON", "/coops/alpha/inbox", []byte(`{"id": `), sendOpts{}, http.StatusBadRequest},
			{"no actor", "/coops/alpha/inbox", noActor, sendOpts{}, http.StatusBadRequest},
			{"id on another host", "/coops/alpha/inbox", func() any {
				a := peer.activity("Follow", n.actorID())
				a["id"] = n.base + "/activities/spoofed"
				return a
			}(), sendOpts{}, http.StatusBadRequest},
			{"no such coop", "/coops/nobody/inbox", peer.activity("Follow", n.actorID()), sendOpts{}, http.StatusNotFound},
			{"unknown type ignored", "/coops/alpha/inbox", peer.activity("EmojiReact", n.actorID()), sendOpts{}, http.StatusAccepted},
			{"Like ignored", "/inbox", peer.activity("Like", n.actorID()), sendOpts{}, http.StatusAccepted},
		} {
			if got := peer.post(t, n, tc.path, tc.act, tc.o); got != tc.want {
				t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
			}
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen`); c != 0 {
			t.Errorf("%d activities recorded", c)
		}

		// Accepted forms: ld+json with the profile, a charset, the shared
		// inbox, an RFC 9421 signature, and a Fedify-style body (extra
		// contexts, proofs, the actor embedded whole).
		accepted := func(name, path string, act any, o sendOpts) {
			t.Helper()
			if got := peer.post(t, n, path, act, o); got != http.StatusAccepted {
				t.Errorf("%s: status %d, want 202", name, got)
			}
		}
		undo := func() map[string]any { return peer.activity("Undo", "https://nowhere.example/follow") }
		accepted("ld+json", "/coops/alpha/inbox", undo(), sendOpts{contentType: `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`})
		accepted("charset", "/coops/alpha/inbox", undo(), sendOpts{contentType: "application/activity+json; charset=utf-8"})
		accepted("shared inbox", "/inbox", undo(), sendOpts{})
		accepted("RFC 9421", "/inbox", peer.activity("Follow", n.actorID()), sendOpts{rfc9421: true})
		fedify := peer.activity("Follow", n.actorID())
		fedify["@context"] = []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/data-integrity/v1",
			map[string]any{"toot": "http://joinmastodon.org/ns#"}}
		fedify["actor"] = map[string]any{"id": peer.actorID()} // embedded, without even a type
		fedify["proof"] = map[string]any{"type": "DataIntegrityProof", "cryptosuite": "eddsa-jcs-2022", "proofValue": "z3"}
		fedify["signature"] = map[string]any{"type": "RsaSignature2017", "signatureValue": "eA=="}
		accepted("Fedify body", "/inbox", fedify, sendOpts{})
		noContext := peer.activity("Undo", "https://nowhere.example/follow")
		delete(noContext, "@context")
		accepted("no @context", "/inbox", noContext, sendOpts{})
		if c := n.count(t, `SELECT COUNT(*) FROM followers WHERE actor_id = $1`, peer.actorID()); c != 1 {
			t.Errorf("%d follower rows after the RFC 9421 and Fedify Follows", c)
		}
	})
}

func TestInboxPolicy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		if err := n.f.BlockHost(ctx, peer.host(), "spam"); err != nil {
			t.Fatal(err)
		}
		before := peer.actorFetch.Load()
		peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusForbidden)
		if peer.actorFetch.Load() != before {
			t.Error("the blocked host's key was fetched")
		}
		if err := n.f.UnblockHost(ctx, peer.host()); err != nil {
			t.Fatal(err)
		}
		peer.mustPost(t, n, peer.activity("Undo", n.actorID()), http.StatusAccepted)

		if err := n.f.SetFederationMode(ctx, ModeAllowlist); err != nil {
			t.Fatal(err)
		}
		peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusForbidden)
		if err := n.f.AllowHost(ctx, peer.host(), "partner"); err != nil {
			t.Fatal(err)
		}
		peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusAccepted)
		if c := n.count(t, `SELECT COUNT(*) FROM followers`); c != 1 {
			t.Errorf("%d followers, want the one allowed", c)
		}
	})
}

func TestInboxKeyRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		peer.mustPost(t, n, peer.activity("Undo", "https://nowhere.example/x"), http.StatusAccepted)
		if got := peer.actorFetch.Load(); got != 1 {
			t.Fatalf("%d actor fetches for a new key, want 1", got)
		}
		// Within a minute of fetching the key, a signature that fails with it
		// is refused without refetching: forgeries cannot drive fetches.
		peer.setKey(otherKey(t))
		peer.mustPost(t, n, peer.activity("Undo", "https://nowhere.example/x"), http.StatusUnauthorized)
		if got := peer.actorFetch.Load(); got != 1 {
			t.Fatalf("%d actor fetches, want no refetch of a fresh key", got)
		}

		// Later, the peer's new key is fetched once, and verifies.
		age := func() {
			if _, err := d.Exec(context.Background(), `UPDATE remote_actors SET fetched_at = $1`, db.Now().Add(-2*keyRefetchInterval)); err != nil {
				t.Fatal(err)
			}
			n.f.signers.clear() // the cache holds the fetch time it read
		}
		age()
		peer.mustPost(t, n, peer.activity("Undo", "https://nowhere.example/x"), http.StatusAccepted)
		if got := peer.actorFetch.Load(); got != 2 {
			t.Fatalf("%d actor fetches, want exactly one refetch", got)
		}
		// A forgery after that refetches once, fails once, and stops.
		age()
		if got := peer.post(t, n, "/inbox", peer.activity("Undo", "https://nowhere.example/x"), sendOpts{key: peerKey(t)}); got != http.StatusUnauthorized {
			t.Fatalf("signature with the old key: %d, want 401", got)
		}
		if got := peer.actorFetch.Load(); got != 3 {
			t.Fatalf("%d actor fetches, want one refetch and no loop", got)
		}
	})
}

func TestInboxKeyObject(t *testing.T) {
	// GoToSocial names keys …/main-key (no fragment); the key document
	// names its owner, whose actor must list the same key.
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		peer.keyObject = true
		peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusAccepted)
		if c := n.count(t, `SELECT COUNT(*) FROM remote_actors WHERE key_id = $1 AND inbox <> ''`, peer.keyID()); c != 1 {
			t.Errorf("key object: %d cached actors", c)
		}
		// A key document whose owner does not list it is refused.
		peer.mu.Lock()
		peer.actorTweak = func(doc map[string]any) { doc["publicKey"] = map[string]any{} }
		peer.mu.Unlock()
		if _, err := d.Exec(context.Background(), `DELETE FROM remote_actors`); err != nil {
			t.Fatal(err)
		}
		n.f.signers.clear()
		if got := peer.post(t, n, "/inbox", peer.activity("Follow", n.actorID()), sendOpts{}); got != http.StatusUnauthorized {
			t.Errorf("key not listed by its owner: %d, want 401", got)
		}
	})
}

func TestInboxDeleteOfUnknownActor(t *testing.T) {
	// Mastodon sends a Delete of each deleted account to every server it
	// knows, signed with a key that is gone: answered 202 without a fetch.
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		del := peer.activity("Delete", peer.actorID())
		peer.mustPost(t, n, del, http.StatusAccepted)
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen`); c != 0 {
			t.Errorf("%d activities recorded", c)
		}
		if got := peer.actorFetch.Load(); got != 0 {
			t.Errorf("%d fetches of a deleted actor's key", got)
		}
	})
}

// BenchmarkInboxUpdate measures one inbox POST end to end but for the
// network: a signed Update of a followed peer's profile, verified (warm key
// cache), parsed (plain decode and go-fed), applied and recorded, on SQLite
// and PostgreSQL. Requests are signed before the timer starts: signing is
// the sender's cost. "parallel" posts from 16 goroutines at once.
func BenchmarkInboxUpdate(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		for _, parallel := range []bool{false, true} {
			name := dialect
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				d := testdb.SQLite(b)
				if dialect == "postgres" {
					d = testdb.Postgres(b)
				}
				e, reqs, check := inboxBench(b, d)
				var next atomic.Int64
				post := func() {
					i := next.Add(1) - 1
					w := httptest.NewRecorder()
					e.ServeHTTP(w, reqs[i])
					if w.Code != http.StatusAccepted {
						b.Errorf("status %d: %s", w.Code, w.Body)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8) // 16 senders on 2 cores
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							post()
						}
					})
				} else {
					for range b.N {
						post()
					}
				}
				b.StopTimer()
				check()
			})
		}
	}
}

// inboxBench makes a node following 50 peers, and b.N signed Updates of
// their profiles, in turn, to post to it.
func inboxBench(b *testing.B, d *db.DB) (http.Handler, []*http.Request, func()) {
	n := newInNode(b, d)
	n.f.log = slog.New(slog.DiscardHandler)
	ctx := context.Background()
	peers := make([]*fakePeer, 50)
	docs := make([]map[string]any, len(peers))
	for i := range peers {
		p := newFakePeer(b, fmt.Sprintf("peer%d", i), peerKey(b))
		if err := n.f.Follow(ctx, n.coop.ID, p.handle()); err != nil {
			b.Fatal(err)
		}
		if _, err := d.Exec(ctx, `UPDATE following SET state = 'accepted'`); err != nil {
			b.Fatal(err)
		}
		if err := n.f.RefreshPeer(ctx, p.actorID()); err != nil {
			b.Fatal(err)
		}
		peers[i], docs[i] = p, p.actorDoc()
		delete(docs[i], "@context")
	}
	e := echo.New()
	n.f.Register(e)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		p, doc := peers[i%len(peers)], docs[i%len(peers)]
		doc["name"] = fmt.Sprintf("Peer Builders %d", i)
		body, _ := json.Marshal(p.activity("Update", doc))
		r := httptest.NewRequest(http.MethodPost, n.base+"/inbox", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/activity+json")
		if err := SignRequest(r, body, p.keyID(), p.key, time.Now()); err != nil {
			b.Fatal(err)
		}
		reqs[i] = r
	}
	return e, reqs, func() {
		if c := n.count(b, `SELECT COUNT(*) FROM inbox_seen`); c != b.N {
			b.Fatalf("%d activities recorded, want %d", c, b.N)
		}
		if c := n.count(b, `SELECT COUNT(*) FROM coops WHERE name LIKE 'Peer Builders %'`); c != min(b.N, len(peers)) {
			b.Fatalf("%d coops updated", c)
		}
	}
}

// BenchmarkInboxParse compares what reading an activity costs with go-fed
// (decode to a map, then streams.ToType) and with a plain struct decode.
func BenchmarkInboxParse(b *testing.B) {
	peer := newFakePeer(b, "beta", peerKey(b))
	doc := peer.actorDoc()
	delete(doc, "@context")
	body, _ := json.Marshal(peer.activity("Update", doc))
	b.Run("go-fed", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
			if _, err := streams.ToType(context.Background(), m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var v struct {
				Object actorDoc `json:"object"`
			}
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var (
	extraKeyOnce sync.Once
	extraKey     *rsa.PrivateKey
)

// randomTestKey is a third key, for a third peer.
func randomTestKey(t testing.TB) *rsa.PrivateKey {
	extraKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		extraKey = k
	})
	return extraKey
}

// TestGoFedDatabase covers the pub.Database methods go-fed may call on paths
// our inbox keeps it from (forwarding, its default side effects): they must
// answer sensibly all the same.
func TestGoFedDatabase(t *testing.T) {
	d := testdb.SQLite(t)
	n := newInNode(t, d)
	peer := newFakePeer(t, "beta", peerKey(t))
	peer.mustPost(t, n, peer.activity("Follow", n.actorID()), http.StatusAccepted)
	locks := newIRILocks()
	gdb := &goFedDB{f: n.f, locks: locks}
	ctx := context.Background()
	u := func(s string) *url.URL {
		p, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if owns, _ := gdb.Owns(ctx, u(n.actorID())); !owns {
		t.Error("Owns(our actor) = false")
	}
	if owns, _ := gdb.Owns(ctx, u(peer.actorID())); owns {
		t.Error("Owns(the peer) = true")
	}
	for box, want := range map[string]string{
		n.base + "/coops/alpha/inbox": n.actorID(),
		n.base + "/inbox":             n.base + "/actor",
	} {
		if got, err := gdb.ActorForInbox(ctx, u(box)); err != nil || got.String() != want {
			t.Errorf("ActorForInbox(%s) = %v, %v", box, got, err)
		}
	}
	if got, err := gdb.OutboxForInbox(ctx, u(n.base+"/coops/alpha/inbox")); err != nil || got.String() != n.actorID()+"/outbox" {
		t.Errorf("OutboxForInbox = %v, %v", got, err)
	}
	if got, err := gdb.ActorForOutbox(ctx, u(n.base+"/coops/alpha/outbox")); err != nil || got.String() != n.actorID() {
		t.Errorf("ActorForOutbox = %v, %v", got, err)
	}
	if _, err := gdb.ActorForInbox(ctx, u(n.base+"/elsewhere")); err == nil {
		t.Error("ActorForInbox of a non-box")
	}
	// go-fed makes inbox IRIs https whatever the node's scheme.
	https := strings.Replace(n.actorID(), "http://", "https://", 1)
	if v, err := gdb.Get(ctx, u(https)); err != nil || v.GetTypeName() != "Organization" {
		t.Errorf("Get(actor) = %v, %v", v, err)
	}
	if v, err := gdb.Get(ctx, u(n.actorID()+"/followers")); err != nil || v.GetTypeName() != "OrderedCollection" {
		t.Errorf("Get(followers) = %v, %v", v, err)
	}
	if _, err := gdb.Get(ctx, u(n.base+"/coops/nobody")); err == nil {
		t.Error("Get of a coop that does not exist")
	}
	for iri, want := range map[string]bool{
		n.actorID():                                   true,
		n.base + "/coops/nobody":                      false,
		peer.srv.URL + "/unseen":                      false,
		n.activitiesOf(t, "Accept")[0]["id"].(string): true,
	} {
		if got, err := gdb.Exists(ctx, u(iri)); err != nil || got != want {
			t.Errorf("Exists(%s) = %v, %v", iri, got, err)
		}
	}
	col, err := gdb.Followers(ctx, u(n.actorID()))
	if err != nil || col.GetActivityStreamsItems().Len() != 1 || col.GetActivityStreamsItems().At(0).GetIRI().String() != peer.actorID() {
		t.Errorf("Followers = %v, %v", col, err)
	}
	if id, err := gdb.NewID(ctx, nil); err != nil || !strings.HasPrefix(id.String(), n.base+"/activities/") {
		t.Errorf("NewID = %v, %v", id, err)
	}
	tr := refusingTransport{}
	if _, err := tr.Dereference(ctx, u(peer.actorID())); err == nil {
		t.Error("go-fed's transport fetched")
	}
	if err := tr.BatchDeliver(ctx, nil, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := tr.BatchDeliver(ctx, nil, []*url.URL{u(peer.actorID())}); err == nil {
		t.Error("go-fed's transport delivered")
	}

	// Locks: re-entrant for one request, exclusive between requests, all
	// released when the request ends.
	a, b := &inboxState{}, &inboxState{}
	ca, cb := withInboxState(ctx, a), withInboxState(ctx, b)
	iri := u(peer.actorID() + "/activities/1")
	if err := gdb.Lock(ca, iri); err != nil {
		t.Fatal(err)
	}
	if err := gdb.Lock(ca, iri); err != nil {
		t.Fatal("a request's second Lock of an IRI deadlocked")
	}
	got := make(chan error, 1)
	go func() { got <- gdb.Lock(cb, iri) }()
	select {
	case <-got:
		t.Fatal("two requests held one IRI")
	default:
	}
	gdb.Unlock(cb, iri) // not b's: does nothing
	locks.releaseAll(a)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	locks.releaseAll(b)
	// Our inboxes are not locked at all.
	if err := gdb.Lock(ca, u(n.base+"/inbox")); err != nil {
		t.Fatal(err)
	}
	if err := gdb.Lock(cb, u(n.base+"/inbox")); err != nil {
		t.Fatal(err)
	}
}
