package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"
	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// shapeFed is enough of a Federation to build activities.
func shapeFed(t *testing.T) *Federation {
	base, _ := url.Parse("https://coops.example")
	return &Federation{cfg: Config{Now: time.Now}, urls: URLs{Base: base}}
}

const (
	shapeA = "https://coops.example/coops/alpha"
	shapeB = "https://b.example/coops/beta"
	shapeC = "https://c.example/coops/gamma"
)

// shapeActivities builds one activity of every referral kind.
func shapeActivities(t *testing.T) map[string]map[string]any {
	f := shapeFed(t)
	coop := directory.Coop{ID: 1, Slug: "alpha"}
	lo, hi := int64(2000), int64(5000)
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	req := referrals.Request{ID: 7, CoopID: 1, PublicID: "abcdefghijklmnopqrstuv", OriginActor: shapeA, HopLimit: 3,
		Chain: []string{shapeA}, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
		Details: referrals.Details{Organization: "Food Bank", Description: "Build a <website>\n\nwith care & love",
			Categories: []string{"web-development"}, Skills: []string{"civicrm"}, BudgetMin: &lo, BudgetMax: &hi,
			Currency: "EUR", Deadline: "2027-01-31", Country: "ES", Region: "Catalonia", Language: "es", ConsentToShare: true}}
	ref := referrals.Referral{ID: 3, CoopID: 1, RequestID: 7, Peer: referrals.Peer{ActorID: shapeB, Name: "Beta"},
		Direction: referrals.Sent, State: referrals.OfferOffered}
	env := referrals.Envelope{Payload: "eyJ.payload.sig", Contact: "eyJ.k.iv.ct.tag"}
	offerID := f.urls.ReferralOffer("alpha", req.PublicID, ref.ID)
	received := referrals.Referral{Peer: referrals.Peer{ActorID: shapeB}, OfferID: shapeB + "/offers/9",
		Direction: referrals.Received, State: referrals.OfferAccepted, Taker: referrals.Peer{ActorID: shapeC, Name: "Gamma"}}
	rejected := received
	rejected.State, rejected.Reason, rejected.Taker = referrals.OfferRejected, "Too busy <until> May", referrals.Peer{}
	return map[string]map[string]any{
		"Offer":   f.offerActivity(coop, req, ref, env, offerID),
		"Accept":  f.answerActivity(coop, received),
		"Reject":  f.answerActivity(coop, rejected),
		"Refusal": f.refusalActivity(coop, shapeB+"/offers/9", shapeB, "tampered"),
		"Undo":    f.withdrawActivity(coop, offerID, shapeB),
		"Add":     f.forwardedActivity(coop, shapeB+"/offers/9", shapeB, referrals.Peer{ActorID: shapeC, Name: "Gamma"}),
	}
}

// roundTrip encodes an activity as it is stored and sent, and decodes it.
func roundTrip(t *testing.T, act map[string]any) map[string]any {
	t.Helper()
	body, err := encodeJSON(act)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReferralActivitiesParseWithGoFed(t *testing.T) {
	ctx := context.Background()
	for name, act := range shapeActivities(t) {
		m := roundTrip(t, act)
		typ, err := streams.ToType(ctx, m)
		if err != nil {
			t.Errorf("%s: go-fed does not parse it: %v", name, err)
			continue
		}
		want := name
		if name == "Refusal" {
			want = "Reject"
		}
		if typ.GetTypeName() != want {
			t.Errorf("%s: go-fed reads a %s", name, typ.GetTypeName())
		}
		// The inbox's own reading, as the receiver will do it.
		env, err := parseEnvelope(mustJSON(t, m))
		if err != nil || env.actor != shapeA || !sameHost(env.id, shapeA) {
			t.Errorf("%s: envelope %+v, %v", name, env, err)
		}
	}
	offer := roundTrip(t, shapeActivities(t)["Offer"])
	typ, _ := streams.ToType(ctx, offer)
	note := typ.(vocab.ActivityStreamsOffer).GetActivityStreamsObject().At(0).GetActivityStreamsNote()
	if note == nil {
		t.Fatal("the Offer's object is not read as a Note")
	}
	if _, ok := note.GetUnknownProperties()["coopnet:referral"]; !ok {
		t.Errorf("go-fed drops coopnet:referral: %v", note.GetUnknownProperties())
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReferralActivityFields(t *testing.T) {
	acts := shapeActivities(t)
	offer := roundTrip(t, acts["Offer"])
	if offer["id"] != "https://coops.example/coops/alpha/referrals/abcdefghijklmnopqrstuv/offers/3" ||
		offer["actor"] != shapeA || !slices.Equal(toStrings(offer["to"]), []string{shapeB}) || offer["cc"] != nil {
		t.Errorf("Offer %v", offer)
	}
	note := offer["object"].(map[string]any)
	for key, want := range map[string]any{
		"type": "Note", "id": "https://coops.example/coops/alpha/referrals/abcdefghijklmnopqrstuv",
		"attributedTo": shapeA, "purpose": "request", "mediaType": "text/html", "unitBased": false,
		"name":              "Food Bank: Build a <website> with care & love",
		"content":           "<p>Build a &lt;website&gt;</p><p>with care &amp; love</p>",
		"schema:inLanguage": "es", "coopnet:deadline": "2027-01-31", "schema:validThrough": "2026-05-31T10:00:00Z",
		"coopnet:origin": shapeA, "coopnet:hop": 1.0, "coopnet:hopLimit": 3.0, "coopnet:consentToShare": true,
	} {
		if note[key] != want {
			t.Errorf("Note %s = %#v, want %#v", key, note[key], want)
		}
	}
	if note["@context"] != nil || offer["@context"] == nil {
		t.Error("@context must be on the Offer only")
	}
	intent := note["publishes"].(map[string]any)
	if intent["type"] != "Intent" || intent["action"] != "deliverService" ||
		intent["resourceConformsTo"] != Namespace+"category-web-development" {
		t.Errorf("Intent %v", intent)
	}
	env := note["coopnet:referral"].(map[string]any)
	if env["payload"] != "eyJ.payload.sig" || env["contact"] != "eyJ.k.iv.ct.tag" || env["forwards"] == nil {
		t.Errorf("envelope %v", env)
	}
	salary := note["schema:baseSalary"].(map[string]any)
	place := note["schema:applicantLocationRequirements"].(map[string]any)
	if salary["schema:minValue"] != 2000.0 || salary["schema:currency"] != "EUR" || place["schema:addressCountry"] != "ES" ||
		place["name"] != "Catalonia" || !slices.Equal(toStrings(note["schema:skills"]), []string{"civicrm"}) {
		t.Errorf("schema.org terms: %v %v %v", salary, place, note["schema:skills"])
	}

	accept := roundTrip(t, acts["Accept"])
	if obj := accept["object"].(map[string]any); obj["id"] != shapeB+"/offers/9" || obj["type"] != "Offer" || obj["actor"] != shapeB {
		t.Errorf("Accept object %v", obj)
	}
	if by := accept["coopnet:acceptedBy"].(map[string]any); by["id"] != shapeC || by["name"] != "Gamma" {
		t.Errorf("acceptedBy %v", by)
	}
	reject := roundTrip(t, acts["Reject"])
	if reject["content"] != "Too busy &lt;until&gt; May" || reject["coopnet:refusal"] != nil || reject["coopnet:acceptedBy"] != nil {
		t.Errorf("Reject %v", reject)
	}
	refusal := roundTrip(t, acts["Refusal"])
	if refusal["coopnet:refusal"] != "tampered" || refusal["content"] != refusalText["tampered"] {
		t.Errorf("refusal %v", refusal)
	}
	undo := roundTrip(t, acts["Undo"])
	if obj := undo["object"].(map[string]any); obj["id"] != offer["id"] || obj["actor"] != shapeA {
		t.Errorf("Undo %v", undo)
	}
	add := roundTrip(t, acts["Add"])
	if add["object"].(map[string]any)["id"] != shapeC || add["target"].(map[string]any)["id"] != shapeB+"/offers/9" ||
		!slices.Equal(toStrings(add["to"]), []string{shapeB}) {
		t.Errorf("Add %v", add)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

// TestReferralContextComplete checks that every property and type the
// referral activities use is an ActivityStreams term, a term of our
// @context, or a compact IRI of one of its prefixes.
func TestReferralContextComplete(t *testing.T) {
	terms := shapeFed(t).contextTerms()
	as2 := []string{"id", "type", "actor", "object", "target", "to", "cc", "published", "content", "name",
		"mediaType", "attributedTo", "Offer", "Accept", "Reject", "Undo", "Add", "Note", "Organization", "Place"}
	defined := func(term string) bool {
		if slices.Contains(as2, term) || terms[term] != nil {
			return true
		}
		prefix, _, ok := strings.Cut(term, ":")
		_, known := terms[prefix]
		return ok && (known || prefix == "as")
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch t2 := v.(type) {
		case map[string]any:
			for k, e := range t2 {
				if k == "@context" || k == "coopnet:referral" { // the envelope is opaque JSON
					continue
				}
				if !defined(k) {
					t.Errorf("%s: property %q is not in the @context", where, k)
				}
				if k == "type" {
					if s, ok := e.(string); ok && !defined(s) {
						t.Errorf("%s: type %q is not in the @context", where, s)
					}
				}
				walk(where+"."+k, e)
			}
		case []any:
			for _, e := range t2 {
				walk(where, e)
			}
		}
	}
	for name, act := range shapeActivities(t) {
		m := roundTrip(t, act)
		ctx, ok := m["@context"].([]any)
		if !ok || len(ctx) != 3 || ctx[0] != activityStreamsContext || ctx[1] != securityContext {
			t.Errorf("%s: @context %v", name, m["@context"])
		}
		walk(name, m)
	}
}

func TestRefusalCode(t *testing.T) {
	for _, tc := range []struct {
		err   error
		code  string
		final bool
	}{
		{referrals.ErrBadSignature, "bad-signature", true},
		{referrals.ErrTampered, "tampered", true},
		{referrals.ErrHopLimit, "hop-limit", true},
		{referrals.ErrInvalidTransition, "invalid", true},
		{ErrHostRefused, "blocked", true},
		// A key set behind a blocked host, wrapped by the store.
		{errors.Join(errors.New("payload"), ErrHostRefused), "blocked", true},
		{errors.New("connection refused"), "", false},
		{errStore, "", false},
	} {
		code, final := refusalCode(tc.err)
		if code != tc.code || final != tc.final {
			t.Errorf("%v: %q %v, want %q %v", tc.err, code, final, tc.code, tc.final)
		}
		if tc.final && refusalText[code] == "" {
			t.Errorf("%q has no text", code)
		}
	}
}

// keyPeer is a peer serving an actor that names its referral key set, from
// a referrals.Keys over the test database.
type keyPeer struct {
	srv     *httptest.Server
	keys    *referrals.Keys
	coopID  int64
	actor   string
	fetches atomic.Int32 // of the key set
	status  atomic.Int32 // answer of the key set when not 0
	keysURL atomic.Value // string: what the actor names
	// publicKeyPEM, when set, is the HTTP signature key the actor publishes.
	publicKeyPEM atomic.Value
}

func newKeyPeer(t *testing.T, d *db.DB) *keyPeer {
	t.Helper()
	p := &keyPeer{keys: referrals.NewKeys(d)}
	err := d.Tx(context.Background(), func(tx *sql.Tx) error {
		return tx.QueryRow(`INSERT INTO coops (slug, name, created_at, updated_at) VALUES ('keypeer', 'Key Peer', $1, $1)
			RETURNING id`, db.Now()).Scan(&p.coopID)
	})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/coops/beta":
			doc := map[string]any{"id": p.actor, "type": "Organization", "inbox": p.actor + "/inbox",
				"coopnet:keys": p.keysURL.Load().(string)}
			if pemKey, ok := p.publicKeyPEM.Load().(string); ok {
				doc["publicKey"] = map[string]any{"id": p.actor + "#main-key", "owner": p.actor, "publicKeyPem": pemKey}
			}
			w.Header().Set("Content-Type", "application/activity+json")
			json.NewEncoder(w).Encode(doc)
		case "/coops/beta/keys.json":
			p.fetches.Add(1)
			if s := p.status.Load(); s != 0 {
				w.WriteHeader(int(s))
				return
			}
			set, err := p.keys.PublicJWKS(r.Context(), p.coopID)
			if err != nil {
				w.WriteHeader(500)
				return
			}
			w.Header().Set("Content-Type", JWKSContentType)
			json.NewEncoder(w).Encode(set)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	p.actor = p.srv.URL + "/coops/beta"
	p.keysURL.Store(p.actor + "/keys.json")
	return p
}

func (p *keyPeer) current(t *testing.T) *referrals.CoopKeys {
	t.Helper()
	k, err := p.keys.For(context.Background(), p.coopID)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyResolver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer := newKeyPeer(t, d)
		r := newKeyResolver(n.f)
		r.refetchAfter = 0

		old := peer.current(t)
		key, err := r.VerificationKey(ctx, peer.actor, old.Signing.KeyID)
		if err != nil || key.KeyID != old.Signing.KeyID || !key.IsPublic() {
			t.Fatalf("verification key: %v, %v", key, err)
		}
		enc, err := r.EncryptionKey(ctx, peer.actor)
		if err != nil || enc.KeyID != old.Encryption.KeyID || enc.Use != "enc" || !enc.IsPublic() {
			t.Fatalf("encryption key: %v, %v", enc, err)
		}
		if got := peer.fetches.Load(); got != 1 {
			t.Fatalf("%d key set fetches, want 1 (cached)", got)
		}

		// The peer rotates: the new kid is unknown to the cache, and the set
		// is fetched once more. The old key still verifies (retired).
		if err := peer.keys.Rotate(ctx, peer.coopID); err != nil {
			t.Fatal(err)
		}
		rotated := peer.current(t)
		if key, err := r.VerificationKey(ctx, peer.actor, rotated.Signing.KeyID); err != nil || key.KeyID != rotated.Signing.KeyID {
			t.Fatalf("rotated key: %v, %v", key, err)
		}
		if got := peer.fetches.Load(); got != 2 {
			t.Fatalf("%d fetches after a rotation, want 2", got)
		}
		if _, err := r.VerificationKey(ctx, peer.actor, old.Signing.KeyID); err != nil {
			t.Fatalf("retired key: %v", err)
		}

		// A kid nobody published: one refetch, then refused for good.
		if _, err := r.VerificationKey(ctx, peer.actor, "forged"); !errors.Is(err, referrals.ErrBadSignature) {
			t.Fatalf("unknown kid: %v", err)
		}
		if got := peer.fetches.Load(); got != 3 {
			t.Fatalf("%d fetches after an unknown kid, want 3 (one refetch, no loop)", got)
		}
		// Within refetchAfter of the last fetch, no fetch: try again later.
		r.refetchAfter = time.Hour
		_, err = r.VerificationKey(ctx, peer.actor, "forged")
		if _, final := refusalCode(err); err == nil || final || peer.fetches.Load() != 3 {
			t.Fatalf("unknown kid in a young set: %v (final %v), %d fetches", err, final, peer.fetches.Load())
		}

		// The peer's server failing is worth a retry; a set on another
		// origin, or none at all, is final.
		r.forgetAll()
		peer.status.Store(http.StatusBadGateway)
		if _, err := r.EncryptionKey(ctx, peer.actor); err == nil {
			t.Fatal("a 502 gave a key")
		} else if _, final := refusalCode(err); final {
			t.Fatalf("a 502 is final: %v", err)
		}
		peer.status.Store(0)
		for name, keysURL := range map[string]string{"another origin": "https://evil.example/keys.json", "none": ""} {
			r.forgetAll()
			peer.keysURL.Store(keysURL)
			if _, err := r.EncryptionKey(ctx, peer.actor); !errors.Is(err, referrals.ErrBadSignature) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// forgetAll empties the cache.
func (r *keyResolver) forgetAll() {
	r.mu.Lock()
	r.sets = map[string]cachedKeySet{}
	r.mu.Unlock()
}

// newRefNode is newInNode with a referrals store.
func newRefNode(t *testing.T, d *db.DB) (*inNode, *referrals.Store) {
	t.Helper()
	refs := referrals.NewStore(d, referrals.NewKeys(d), referrals.Config{})
	return newInNodeWith(t, d, refs), refs
}

func TestServeReferralKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n, refs := newRefNode(t, d)
		resp, err := http.Get(n.base + "/coops/alpha/keys.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw map[string][]map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 200 ||
			resp.Header.Get("Content-Type") != JWKSContentType {
			t.Fatalf("keys.json: %d %s, %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		uses := []string{}
		for _, k := range raw["keys"] {
			if k["d"] != nil {
				t.Fatal("a private key is published")
			}
			uses = append(uses, k["use"].(string)+" "+k["alg"].(string))
		}
		slices.Sort(uses)
		if !slices.Equal(uses, []string{"enc ECDH-ES+A256KW", "sig ES256"}) {
			t.Errorf("published keys %v", uses)
		}
		if r, _ := http.Get(n.base + "/coops/nobody/keys.json"); r.StatusCode != 404 {
			t.Errorf("keys of no coop: %d", r.StatusCode)
		}

		// The actor names the set; the resolver reads a coop of ours
		// without HTTP, rotated keys included.
		req, _ := http.NewRequest(http.MethodGet, n.actorID(), nil)
		req.Header.Set("Accept", "application/activity+json")
		ar, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var actor map[string]any
		json.NewDecoder(ar.Body).Decode(&actor)
		ar.Body.Close()
		if actor["coopnet:keys"] != n.actorID()+"/keys.json" {
			t.Errorf("actor's coopnet:keys = %v", actor["coopnet:keys"])
		}
		if readContextOK(t, actor)["coopnet:keys"] == nil {
			t.Error("coopnet:keys is not in the @context")
		}
		var set jose.JSONWebKeySet
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &set)
		sig := set.Keys[0]
		if sig.Use != "sig" {
			sig = set.Keys[1]
		}
		if err := n.f.RotateReferralKeys(ctx, n.coop.ID); err != nil {
			t.Fatal(err)
		}
		r := n.f.KeyResolver()
		if k, err := r.VerificationKey(ctx, n.actorID(), sig.KeyID); err != nil || k.KeyID != sig.KeyID {
			t.Fatalf("local retired key: %v, %v", k, err)
		}
		cur, _ := refs.Keys().For(ctx, n.coop.ID)
		if k, err := r.EncryptionKey(ctx, n.actorID()); err != nil || k.KeyID != cur.Encryption.KeyID || k.KeyID == "" {
			t.Fatalf("local encryption key: %v, %v", k, err)
		}
		if len(n.activitiesOf(t, "Update")) != 1 {
			t.Error("a rotation sends no Update of the actor")
		}
	})
}
