package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/federation"
)

// Fake remote peers for the inbox benchmark: one HTTP server on 127.0.0.1
// hosting many coop actors (Organizations, as another coopnet node would
// publish them), each with an RSA-2048 key of its own. The server answers
// what the node under test asks of a peer it follows: WebFinger, the actor
// document, an empty services collection, and the Follow posted to the
// actor's inbox, which it records so that the actor can Accept it.

// activityContext is the @context of what the fake actors publish: the
// ActivityStreams and security contexts and the schema.org terms their
// documents use, as coopnet emits them.
var activityContext = []any{
	"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1",
	map[string]any{
		"schema": "http://schema.org#", "PropertyValue": "schema:PropertyValue", "value": "schema:value",
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers", "toot": "http://joinmastodon.org/ns#",
		"discoverable": "toot:discoverable", "address": "schema:address", "knowsLanguage": "schema:knowsLanguage",
		"knowsAbout": "schema:knowsAbout", "serviceType": "schema:serviceType", "keywords": "schema:keywords",
		"priceSpecification": "schema:priceSpecification", "minPrice": "schema:minPrice",
		"maxPrice": "schema:maxPrice", "priceCurrency": "schema:priceCurrency",
	},
}

// publicAudience is ActivityStreams' public collection.
const publicAudience = "https://www.w3.org/ns/activitystreams#Public"

// fakeActor is one remote coop.
type fakeActor struct {
	Slug string
	ID   string
	Key  *rsa.PrivateKey
	pem  string
	base string // the server's URL
}

// KeyID is the id of the actor's key, in its actor document.
func (a *fakeActor) KeyID() string { return a.ID + "#main-key" }

// Document is the actor's document, named as given, without @context.
func (a *fakeActor) Document(name string) map[string]any {
	id := a.ID
	return map[string]any{
		"id": id, "type": "Organization", "preferredUsername": a.Slug, "name": name,
		"summary": "<p>We build websites for nonprofits.</p>",
		"source":  map[string]any{"content": "We build websites for nonprofits.", "mediaType": "text/markdown"},
		"url":     id, "inbox": id + "/inbox", "outbox": id + "/outbox", "followers": id + "/followers",
		"following": id + "/following", "services": id + "/services",
		"endpoints": map[string]any{"sharedInbox": a.base + "/inbox"},
		"publicKey": map[string]any{"id": a.KeyID(), "owner": id, "publicKeyPem": a.pem},
		"attachment": []any{
			map[string]any{"type": "PropertyValue", "name": "Location", "value": "Leipzig, Germany"},
		},
		"address":       map[string]any{"type": "PostalAddress", "addressLocality": "Leipzig", "addressCountry": "DE"},
		"knowsLanguage": []any{"de", "en"}, "knowsAbout": []any{"Go", "PostgreSQL"},
		"discoverable": true, "manuallyApprovesFollowers": false,
	}
}

// Service is a schema:Service object of the actor, as coopnet publishes it.
func (a *fakeActor) Service(n int, title string) map[string]any {
	id := fmt.Sprintf("%s/services/%d", a.ID, n)
	return map[string]any{
		"id": id, "type": federation.ServiceType, "name": title, "url": id, "attributedTo": a.ID,
		"content": "<p>We do <b>" + title + "</b>.</p>", "mediaType": "text/html",
		"source":      map[string]any{"content": "We do **" + title + "**.", "mediaType": "text/markdown"},
		"serviceType": "web-development", "pricingModel": "hourly", "keywords": []any{"go", "sql"},
		"priceSpecification": map[string]any{"type": "PriceSpecification", "minPrice": 50, "maxPrice": 90, "priceCurrency": "EUR"},
		"to":                 []any{publicAudience}, "cc": []any{a.ID + "/followers"},
	}
}

// Activity is an activity of the actor with the given id suffix.
func (a *fakeActor) Activity(idSuffix, typ string, object any) map[string]any {
	return map[string]any{
		"@context": activityContext,
		"id":       a.ID + "/activities/" + idSuffix,
		"type":     typ, "actor": a.ID, "object": object,
		"to": []any{publicAudience}, "cc": []any{a.ID + "/followers"},
	}
}

// fakePeers is the server and its actors.
type fakePeers struct {
	URL     string
	Actors  []*fakeActor
	srv     *http.Server
	byID    map[string]*fakeActor
	mu      sync.Mutex
	follows map[string]string // actor id → the id of the Follow it received
}

// startFakePeers generates n keys (on every core) and serves n actors.
func startFakePeers(ctx context.Context, n int) (*fakePeers, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fake peers: listen: %w", err)
	}
	p := &fakePeers{URL: "http://" + ln.Addr().String(), byID: map[string]*fakeActor{}, follows: map[string]string{}}
	if p.Actors, err = newFakeActors(ctx, p.URL, n); err != nil {
		ln.Close()
		return nil, err
	}
	for _, a := range p.Actors {
		p.byID[a.ID] = a
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln) //nolint:errcheck // ends with Close
	return p, nil
}

// newFakeActors makes n actors on the server at base, with keys generated
// in parallel.
func newFakeActors(ctx context.Context, base string, n int) ([]*fakeActor, error) {
	actors := make([]*fakeActor, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		if errs[i] = ctx.Err(); errs[i] != nil {
			return
		}
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			errs[i] = fmt.Errorf("fake peers: key: %w", err)
			return
		}
		pem, err := federation.PublicKeyPEM(&key.PublicKey)
		if err != nil {
			errs[i] = fmt.Errorf("fake peers: key: %w", err)
			return
		}
		slug := fmt.Sprintf("peer%02d", i)
		actors[i] = &fakeActor{Slug: slug, ID: base + "/coops/" + slug, Key: key, pem: pem, base: base}
	})
	return actors, errors.Join(errs...)
}

// parallel runs fn(0) … fn(n-1) on as many goroutines as there are cores.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.NumCPU()) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Close stops the server.
func (p *fakePeers) Close() error { return p.srv.Close() }

// FollowOf returns the id of the Follow the actor received, if any.
func (p *fakePeers) FollowOf(actorID string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.follows[actorID]
	return id, ok
}

func (p *fakePeers) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/inbox"):
		p.receive(w, r)
	case r.Method != http.MethodGet:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	case path == "/.well-known/webfinger":
		p.webfinger(w, r)
	default:
		p.document(w, r)
	}
}

// webfinger answers acct:slug@host.
func (p *fakePeers) webfinger(w http.ResponseWriter, r *http.Request) {
	user, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Query().Get("resource"), "acct:"), "@")
	a, ok := p.byID[p.URL+"/coops/"+user]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/jrd+json")
	json.NewEncoder(w).Encode(map[string]any{"subject": r.URL.Query().Get("resource"), "links": []any{
		map[string]any{"rel": "self", "type": "application/activity+json", "href": a.ID},
	}})
}

// document serves an actor or its (empty) services collection.
func (p *fakePeers) document(w http.ResponseWriter, r *http.Request) {
	id := p.URL + r.URL.Path
	var doc map[string]any
	if a, ok := p.byID[id]; ok {
		doc = a.Document("Peer Builders " + a.Slug)
	} else if a, ok := p.byID[strings.TrimSuffix(id, "/services")]; ok {
		doc = map[string]any{"id": a.ID + "/services", "type": "OrderedCollection", "totalItems": 0, "orderedItems": []any{}}
	} else {
		http.NotFound(w, r)
		return
	}
	doc["@context"] = activityContext
	w.Header().Set("Content-Type", "application/activity+json")
	json.NewEncoder(w).Encode(doc)
}

// receive records the Follows the node sends; anything else is accepted
// and dropped.
func (p *fakePeers) receive(w http.ResponseWriter, r *http.Request) {
	var act struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Object any    `json:"object"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&act); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	if object, ok := act.Object.(string); ok && act.Type == "Follow" {
		p.mu.Lock()
		p.follows[object] = act.ID
		p.mu.Unlock()
	}
	w.WriteHeader(http.StatusAccepted)
}
