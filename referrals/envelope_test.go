package referrals

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

var client = Contact{Name: "Ann", Email: "ann@foodbank.example", Phone: "+1 555 0100"}

// seal makes a referral from A to `to`, its payload edited by mod.
func seal(t testing.TB, n *testNet, to string, mod func(p *Payload)) Envelope {
	t.Helper()
	p := Payload{PublicID: "req-000000000000001", To: to, HopLimit: 3, Details: Details{
		Description: "A website for our food bank", Categories: []string{"web-development"}, Skills: []string{"Drupal"},
		Country: "DE", ConsentToShare: true}}
	if mod != nil {
		mod(&p)
	}
	env, err := n.keys.Seal(context.Background(), n.coops[actorA], p, client, n)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func forward(t testing.TB, n *testNet, env Envelope, by, to string) Envelope {
	t.Helper()
	out, err := n.keys.Forward(context.Background(), n.coops[by], env, to, n)
	if err != nil {
		t.Fatalf("forward %s -> %s: %v", by, to, err)
	}
	return out
}

// forge passes a referral on as a dishonest coop `by` would: without any of
// Forward's checks, re-encrypting the contact and signing with its own key.
func forge(t testing.TB, n *testNet, env Envelope, by, to string) Envelope {
	t.Helper()
	ctx := context.Background()
	self := n.coops[by]
	c, salt, err := n.keys.decryptContact(ctx, self.CoopID, env.Contact)
	if err != nil {
		t.Fatal(err)
	}
	jwe, err := encryptContactTo(ctx, n, to, c, salt)
	if err != nil {
		t.Fatal(err)
	}
	claims := forwardClaims{Payload: digestOf(env.Payload), Previous: []string{}, From: by, To: to,
		Hop: len(env.Forwards) + 2, Time: time.Now().UTC().Truncate(time.Second)}
	for _, f := range env.Forwards {
		claims.Previous = append(claims.Previous, digestOf(f))
	}
	return Envelope{Payload: env.Payload, Forwards: append(slices.Clone(env.Forwards), signAs(t, n, by, typForward, claims)),
		Contact: jwe}
}

func signAs(t testing.TB, n *testNet, actor, typ string, v any) string {
	t.Helper()
	keys, err := n.keys.For(context.Background(), n.coops[actor].CoopID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := CanonicalJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign(&keys.Signing, typ, raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(n *testNet, env Envelope, at string) (Opened, error) {
	return n.keys.Open(context.Background(), n.coops[at], env, n)
}

func TestEnvelopeRoundTrip(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d)
		env := seal(t, n, actorB, nil)
		o, err := open(n, env, actorB)
		if err != nil {
			t.Fatal(err)
		}
		if o.Contact != client || o.Hop != 1 || o.From != actorA || !slices.Equal(o.Chain, []string{actorA, actorB}) {
			t.Fatalf("opened at B: hop %d from %s chain %v", o.Hop, o.From, o.Chain)
		}
		if o.Payload.Description != "A website for our food bank" || o.Payload.Origin != actorA ||
			!o.Payload.Expires.Equal(o.Payload.Created.Add(DefaultOfferTTL)) {
			t.Fatalf("payload %+v", o.Payload)
		}
		if strings.Contains(env.Contact, "ann@") || strings.Contains(env.Payload, "ann@") {
			t.Fatal("contact details travel in clear")
		}

		toC := forward(t, n, env, actorB, actorC)
		o, err = open(n, toC, actorC)
		if err != nil {
			t.Fatal(err)
		}
		if o.Contact != client || o.Hop != 2 || o.From != actorB || !slices.Equal(o.Chain, []string{actorA, actorB, actorC}) {
			t.Fatalf("opened at C: hop %d from %s chain %v", o.Hop, o.From, o.Chain)
		}
		if len(o.Forwards) != 1 || o.Forwards[0].From != actorB || o.Forwards[0].To != actorC || o.Forwards[0].Hop != 2 {
			t.Fatalf("forwards %+v", o.Forwards)
		}
		// B cannot read what it passed on to C any more; C can pass it on.
		if _, err := open(n, toC, actorB); !errors.Is(err, ErrNotForUs) {
			t.Fatalf("B opening C's referral: %v", err)
		}
		toD := forward(t, n, toC, actorC, actorD)
		if o, err = open(n, toD, actorD); err != nil || o.Hop != 3 {
			t.Fatalf("opened at D: hop %d, %v", o.Hop, err)
		}
		if _, err := n.keys.Forward(context.Background(), n.coops[actorD], toD, "https://e.example/coops/e", n); !errors.Is(err, ErrHopLimit) {
			t.Fatalf("forward past the hop limit: %v", err)
		}
	})
}

func TestEnvelopeRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d)
		ctx := context.Background()
		tests := []struct {
			name string
			at   string
			env  func(t *testing.T) Envelope
			want error
		}{
			{"payload field changed", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				env.Payload = editPayload(t, env.Payload, "food bank", "food bang")
				return env
			}, ErrBadSignature},
			{"signature byte changed", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				i := strings.LastIndexByte(env.Payload, '.') + 10
				c := "A"
				if env.Payload[i] == 'A' {
					c = "B"
				}
				env.Payload = env.Payload[:i] + c + env.Payload[i+1:]
				return env
			}, ErrBadSignature},
			{"signed by another coop in the origin's name", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				var p Payload
				mustUnmarshalJWS(t, env.Payload, &p)
				p.Description = "Something else"
				env.Payload = signAs(t, n, actorD, typPayload, p)
				return env
			}, ErrBadSignature},
			{"contact swapped", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				jwe, err := encryptContactTo(ctx, n, actorB, Contact{Email: "mallory@example.org"}, make([]byte, 16))
				if err != nil {
					t.Fatal(err)
				}
				env.Contact = jwe
				return env
			}, ErrTampered},
			{"contact encrypted to another coop", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				env.Contact = seal(t, n, actorC, nil).Contact
				return env
			}, ErrNotForUs},
			{"wrong recipient", actorC, func(t *testing.T) Envelope { return seal(t, n, actorB, nil) }, ErrNotForUs},
			{"forward dropped", actorC, func(t *testing.T) Envelope {
				env := forward(t, n, seal(t, n, actorB, nil), actorB, actorC)
				env.Forwards = nil
				return env
			}, ErrNotForUs},
			{"forward from another referral", actorC, func(t *testing.T) Envelope {
				other := forward(t, n, seal(t, n, actorB, nil), actorB, actorC)
				env := seal(t, n, actorB, func(p *Payload) { p.PublicID = "req-000000000000002" })
				env.Forwards, env.Contact = other.Forwards, other.Contact
				return env
			}, ErrTampered},
			{"forward by an impostor", actorC, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				good := forge(t, n, env, actorB, actorC)
				var c forwardClaims
				mustUnmarshalJWS(t, good.Forwards[0], &c)
				good.Forwards[0] = signAs(t, n, actorC, typForward, c) // C signs as B
				return good
			}, ErrBadSignature},
			{"forward skipping a hop", actorD, func(t *testing.T) Envelope {
				toC := forward(t, n, seal(t, n, actorB, nil), actorB, actorC)
				// C drops B's forward and passes it on as if A had sent it to C.
				return forge(t, n, Envelope{Payload: toC.Payload, Contact: toC.Contact}, actorC, actorD)
			}, ErrTampered},
			{"expired", actorB, func(t *testing.T) Envelope {
				return seal(t, n, actorB, func(p *Payload) {
					p.Created, p.Expires = time.Now().Add(-40*24*time.Hour), time.Now().Add(-10*24*time.Hour)
				})
			}, ErrExpired},
			{"hop limit", actorC, func(t *testing.T) Envelope {
				return forge(t, n, seal(t, n, actorB, func(p *Payload) { p.HopLimit = 1 }), actorB, actorC)
			}, ErrHopLimit},
			{"loop back to the origin", actorA, func(t *testing.T) Envelope {
				return forge(t, n, seal(t, n, actorB, nil), actorB, actorA)
			}, ErrLoop},
			{"loop B-C-B", actorB, func(t *testing.T) Envelope {
				env := forge(t, n, seal(t, n, actorB, nil), actorB, actorC)
				return forge(t, n, env, actorC, actorB)
			}, ErrLoop},
			{"passed on without consent", actorC, func(t *testing.T) Envelope {
				return forge(t, n, seal(t, n, actorB, func(p *Payload) { p.ConsentToShare = false }), actorB, actorC)
			}, ErrNoConsent},
			{"forward passed off as payload", actorC, func(t *testing.T) Envelope {
				env := forward(t, n, seal(t, n, actorB, nil), actorB, actorC)
				env.Payload = env.Forwards[0]
				return env
			}, ErrTampered},
			{"payload not canonical", actorB, func(t *testing.T) Envelope {
				env := seal(t, n, actorB, nil)
				raw := []byte(strings.Replace(string(jwsPayload(t, env.Payload)), `"v":1`, `"v": 1`, 1))
				keys, _ := n.keys.For(ctx, n.coops[actorA].CoopID)
				s, err := sign(&keys.Signing, typPayload, raw)
				if err != nil {
					t.Fatal(err)
				}
				env.Payload = s
				return env
			}, ErrTampered},
			{"hop limit out of range", actorB, func(t *testing.T) Envelope {
				return seal(t, n, actorB, func(p *Payload) { p.HopLimit = 99 })
			}, ErrInvalid},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := open(n, tt.env(t), tt.at)
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
	})
}

func TestForwardChecks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d)
		ctx := context.Background()
		noConsent := seal(t, n, actorB, func(p *Payload) { p.ConsentToShare = false })
		if _, err := n.keys.Forward(ctx, n.coops[actorB], noConsent, actorC, n); !errors.Is(err, ErrNoConsent) {
			t.Fatalf("no consent: %v", err)
		}
		env := seal(t, n, actorB, nil)
		if _, err := n.keys.Forward(ctx, n.coops[actorB], env, actorA, n); !errors.Is(err, ErrLoop) {
			t.Fatalf("back to the origin: %v", err)
		}
		if _, err := n.keys.Forward(ctx, n.coops[actorC], env, actorD, n); !errors.Is(err, ErrNotForUs) {
			t.Fatalf("passing on what was not ours: %v", err)
		}
	})
}

func TestRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d)
		ctx := context.Background()
		a, b := n.coops[actorA].CoopID, n.coops[actorB].CoopID
		old := seal(t, n, actorB, nil)
		oldKid := jwsKid(t, old.Payload)
		oldB, err := n.keys.For(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		oldEncB := oldB.Encryption.KeyID
		if err := n.keys.Rotate(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := n.keys.Rotate(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := open(n, old, actorB); err != nil {
			t.Fatalf("referral sealed before the rotations: %v", err)
		}
		fresh := seal(t, n, actorB, nil)
		keysA, _ := n.keys.For(ctx, a)
		if kid := jwsKid(t, fresh.Payload); kid == oldKid || kid != keysA.Signing.KeyID {
			t.Fatalf("new seal signed with %s (old %s, current %s)", kid, oldKid, keysA.Signing.KeyID)
		}
		setB, err := n.keys.PublicJWKS(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if enc, _ := EncryptionKeyFrom(setB); enc.KeyID == oldEncB {
			t.Fatal("retired encryption key still published for encryption")
		}
		if len(setB.Key(oldEncB)) != 0 {
			t.Fatal("retired encryption key published")
		}
		setA, _ := n.keys.PublicJWKS(ctx, a)
		if len(setA.Keys) != 3 || len(setA.Key(oldKid)) != 1 {
			t.Fatalf("A's key set: %d keys, retired signing key present: %v", len(setA.Keys), len(setA.Key(oldKid)) == 1)
		}
		for _, k := range setA.Keys {
			if !k.IsPublic() {
				t.Fatalf("private key %s published", k.KeyID)
			}
		}
	})
}

func TestKeysMadeOnceAcrossProcesses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d, actorA)
		ctx := context.Background()
		id := n.coops[actorA].CoopID
		// Two key stores over one database: two processes.
		other := NewKeys(d)
		k1, err := n.keys.For(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := other.For(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k1.Signing.KeyID != k2.Signing.KeyID || k1.Encryption.KeyID != k2.Encryption.KeyID {
			t.Fatal("two processes made different keys")
		}
		// The first rotates; the second, with stale keys cached, still
		// decrypts what is encrypted to the new key.
		if err := n.keys.Rotate(ctx, id); err != nil {
			t.Fatal(err)
		}
		set, _ := n.keys.PublicJWKS(ctx, id)
		enc, _ := EncryptionKeyFrom(set)
		jwe, err := encryptContact(enc, client, make([]byte, 16))
		if err != nil {
			t.Fatal(err)
		}
		if c, _, err := other.decryptContact(ctx, id, jwe); err != nil || c != client {
			t.Fatalf("stale process decrypting: %v", err)
		}
		if _, err := NewKeys(d).For(ctx, 999999); !errors.Is(err, ErrNotFound) {
			t.Fatalf("keys of a missing coop: %v", err)
		}
	})
}

func TestKeysMadeAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d, actorA)
		id := n.coops[actorA].CoopID
		kids := make([]string, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range kids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := NewKeys(d).For(context.Background(), id)
				if errs[i] = err; err == nil {
					kids[i] = k.Signing.KeyID + " " + k.Encryption.KeyID
				}
			}()
		}
		wg.Wait()
		for i := range kids {
			if errs[i] != nil || kids[i] != kids[0] {
				t.Fatalf("process %d: %q (%v), process 0: %q", i, kids[i], errs[i], kids[0])
			}
		}
	})
}

func TestKeyPicking(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newTestNet(t, d, actorA)
		set, err := n.keys.PublicJWKS(context.Background(), n.coops[actorA].CoopID)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := EncryptionKeyFrom(set)
		if err != nil {
			t.Fatal(err)
		}
		// An encryption key cannot be used to verify, nor an unknown kid.
		if _, err := VerificationKeyFrom(set, enc.KeyID); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("encryption key as verification key: %v", err)
		}
		if _, err := VerificationKeyFrom(set, "nope"); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("unknown kid: %v", err)
		}
		if _, err := EncryptionKeyFrom(jose.JSONWebKeySet{}); !errors.Is(err, ErrNotForUs) {
			t.Fatalf("empty set: %v", err)
		}
	})
}

func jwsPayload(t testing.TB, s string) []byte {
	t.Helper()
	parts := strings.Split(s, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func mustUnmarshalJWS(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal(jwsPayload(t, s), v); err != nil {
		t.Fatal(err)
	}
}

func editPayload(t testing.TB, s, old, new string) string {
	t.Helper()
	parts := strings.Split(s, ".")
	raw := strings.Replace(string(jwsPayload(t, s)), old, new, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(raw))
	return strings.Join(parts, ".")
}

func jwsKid(t testing.TB, s string) string {
	t.Helper()
	obj, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{SigningAlgorithm})
	if err != nil {
		t.Fatal(err)
	}
	return obj.Signatures[0].Protected.KeyID
}

// BenchmarkSealOpen seals a referral at A and opens it at B, with key sets
// cached as federation caches them.
func BenchmarkSealOpen(b *testing.B) {
	n := newTestNet(b, testdb.SQLite(b))
	r := &cachedResolver{n: n, sets: map[string]jose.JSONWebKeySet{}}
	ctx := context.Background()
	p := Payload{PublicID: "req-000000000000001", To: actorB, Details: Details{Description: strings.Repeat("word ", 200)}}
	for b.Loop() {
		env, err := n.keys.Seal(ctx, n.coops[actorA], p, client, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.keys.Open(ctx, n.coops[actorB], env, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardOpen passes a referral from B on to C and opens it at C.
func BenchmarkForwardOpen(b *testing.B) {
	n := newTestNet(b, testdb.SQLite(b))
	r := &cachedResolver{n: n, sets: map[string]jose.JSONWebKeySet{}}
	ctx := context.Background()
	env := seal(b, n, actorB, nil)
	for b.Loop() {
		toC, err := n.keys.Forward(ctx, n.coops[actorB], env, actorC, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.keys.Open(ctx, n.coops[actorC], toC, r); err != nil {
			b.Fatal(err)
		}
	}
}
