package federation_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/referrals"
)

// Referrals between real nodes A, B and C (one coop each) on 127.0.0.1:
// Offers with sealed envelopes, answers, withdrawals, forwards and
// refusals, through the delivery queue and the inboxes, on SQLite and
// PostgreSQL. Every step is awaited through the referrals stores.

func (p *peerNode) refPeer() referrals.Peer {
	return referrals.Peer{ActorID: p.actor(), Name: p.coop.Name}
}

// intake records a client's request at p; the client consents to it
// being passed on.
func (p *peerNode) intake() referrals.Request {
	p.t.Helper()
	in := referrals.Intake{
		Details: referrals.Details{Organization: "Food Bank", Description: "We need a new website for our volunteers.",
			Categories: []string{"web-development"}, Skills: []string{"civicrm"}, Currency: "EUR",
			Deadline: time.Now().AddDate(0, 2, 0).Format(time.DateOnly), Country: "ES", Language: "es", ConsentToShare: true},
		Contact: referrals.Contact{Name: "Ann", Email: "ann@foodbank.example", Phone: "+34 600 000 000"},
	}
	r, _, err := p.n.Referrals.CreateRequest(context.Background(), referrals.Local{CoopID: p.coop.ID, ActorID: p.actor()}, in)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// refer refers p's request to peers and returns the new referrals.
func (p *peerNode) refer(req referrals.Request, peers ...*peerNode) []referrals.Referral {
	p.t.Helper()
	var list []referrals.Peer
	for _, q := range peers {
		list = append(list, q.refPeer())
	}
	ch, err := p.n.Referrals.Refer(context.Background(), p.coop.ID, req.ID, list)
	if err != nil {
		p.t.Fatal(err)
	}
	return ch.Offered
}

// held returns p's own request with that public id, if p holds one.
func (p *peerNode) held(publicID string) (referrals.Request, bool) {
	p.t.Helper()
	list, err := p.n.Referrals.ListRequests(context.Background(), p.coop.ID, referrals.Filter{Limit: 500})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, r := range list {
		if r.PublicID == publicID {
			return r, true
		}
	}
	return referrals.Request{}, false
}

// awaitHeld waits until p holds the request.
func (p *peerNode) awaitHeld(publicID string) referrals.Request {
	p.t.Helper()
	var r referrals.Request
	eventually(p.t, p.coop.Slug+" receives request "+publicID, func() bool {
		var ok bool
		r, ok = p.held(publicID)
		return ok
	})
	return r
}

// state is the state of p's request with that public id ("" if none).
func (p *peerNode) state(publicID string) referrals.State {
	r, _ := p.held(publicID)
	return r.State
}

// sent returns p's referral of a request to peer.
func (p *peerNode) sent(req referrals.Request, peer *peerNode) referrals.Referral {
	p.t.Helper()
	refs, err := p.n.Referrals.Referrals(context.Background(), p.coop.ID, req.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, r := range refs {
		if r.Direction == referrals.Sent && r.Peer.ActorID == peer.actor() {
			return r
		}
	}
	return referrals.Referral{}
}

// trail is the texts of a request's trail at p, members' view.
func (p *peerNode) trail(req referrals.Request) string {
	p.t.Helper()
	events, err := p.n.Referrals.Trail(context.Background(), req.ID, false)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Text+" "+e.Detail)
	}
	return strings.Join(out, " | ")
}

// activities returns the bodies of p's stored activities of a type.
func (p *peerNode) activities(typ string) []map[string]any {
	p.t.Helper()
	rows, err := p.db.Query(context.Background(), `SELECT body FROM activities WHERE type = $1 ORDER BY id`, typ)
	if err != nil {
		p.t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			p.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// refusals counts p's Rejects sent with a machine reason.
func (p *peerNode) refusals(code string) int {
	n := 0
	for _, a := range p.activities("Reject") {
		if a["coopnet:refusal"] == code {
			n++
		}
	}
	return n
}

// envelopeTo returns the envelope of the Offer p sent to peer about a
// request, as it travelled.
func (p *peerNode) envelopeTo(publicID string, peer *peerNode) referrals.Envelope {
	p.t.Helper()
	for _, a := range p.activities("Offer") {
		note := a["object"].(map[string]any)
		if strings.Contains(note["id"].(string), publicID) && a["to"].([]any)[0] == peer.actor() {
			var env referrals.Envelope
			raw, _ := json.Marshal(note["coopnet:referral"])
			if err := json.Unmarshal(raw, &env); err != nil {
				p.t.Fatal(err)
			}
			return env
		}
	}
	p.t.Fatalf("%s sent no Offer of %s to %s", p.coop.Slug, publicID, peer.coop.Slug)
	return referrals.Envelope{}
}

// forgeForward passes env on from p to `to` as p would, with p's real keys
// but without the checks p's store makes first: what a peer that ignores
// the rules (or a buggy one) could send.
func (p *peerNode) forgeForward(env referrals.Envelope, to string) referrals.Envelope {
	p.t.Helper()
	keys, err := p.n.Referrals.Keys().For(context.Background(), p.coop.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	digest := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}
	previous := []string{}
	for _, f := range env.Forwards {
		previous = append(previous, digest(f))
	}
	raw, err := referrals.CanonicalJSON(map[string]any{"payload": digest(env.Payload), "previous": previous,
		"from": p.actor(), "to": to, "hop": len(env.Forwards) + 2, "time": time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		p.t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &keys.Signing},
		(&jose.SignerOptions{}).WithType("coopnet-referral-forward+json"))
	if err != nil {
		p.t.Fatal(err)
	}
	obj, err := signer.Sign(raw)
	if err != nil {
		p.t.Fatal(err)
	}
	fwd, _ := obj.CompactSerialize()
	return referrals.Envelope{Payload: env.Payload, Forwards: append(append([]string{}, env.Forwards...), fwd), Contact: env.Contact}
}

var forged atomic.Int32

// postOffer posts an Offer carrying env from p to peer's inbox, signed with
// p's HTTP signature key, and returns the status.
func (p *peerNode) postOffer(peer *peerNode, env referrals.Envelope) int {
	p.t.Helper()
	id := fmt.Sprintf("%s/activities/forged-%d", p.base, forged.Add(1))
	body, _ := json.Marshal(map[string]any{
		"@context": "https://www.w3.org/ns/activitystreams", "id": id, "type": "Offer", "actor": p.actor(),
		"to":     []string{peer.actor()},
		"object": map[string]any{"type": "Note", "id": id + "/note", "content": "forged", "coopnet:referral": env},
	})
	key, err := federation.NewKeys(p.db).For(context.Background(), federation.ActorPath(p.coop.Slug))
	if err != nil {
		p.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, peer.actor()+"/inbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, body, p.actor()+"#main-key", key.Private, time.Now()); err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// tamper sets A's hook on the Offers it sends to one peer.
func tamper(p *peerNode, to *peerNode, fn func(note map[string]any, env *referrals.Envelope)) {
	federation.TamperOffers(p.n.Federation, func(peer string, offer map[string]any) {
		if peer != to.actor() {
			return
		}
		note := offer["object"].(map[string]any)
		env := note["coopnet:referral"].(referrals.Envelope)
		fn(note, &env)
		note["coopnet:referral"] = env
	})
}

func TestNetworkReferrals(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b, c := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta"), newPeer(t, open(t), "gamma")

		t.Run("refer and decline", func(t *testing.T) {
			req := a.intake()
			ref := a.refer(req, b)[0]
			atB := b.awaitHeld(req.PublicID)
			if atB.Hop != 1 || atB.FromActor != a.actor() || atB.State != referrals.StateNew || atB.OriginActor != a.actor() ||
				atB.Description != req.Description || len(atB.Chain) != 2 || atB.Chain[1] != b.actor() {
				t.Fatalf("request at B: %+v", atB)
			}
			contact, err := b.n.Referrals.ContactFor(ctx, b.coop.ID, atB.ID)
			if err != nil || contact.Email != "ann@foodbank.example" || contact.Phone != "+34 600 000 000" {
				t.Fatalf("contact at B: %v", err)
			}
			if sent := a.sent(req, b); sent.OfferID != atB.OfferID || sent.ID != ref.ID {
				t.Fatalf("offer id at A %q, at B %q", sent.OfferID, atB.OfferID)
			}
			if _, err := b.n.Referrals.RejectReceived(ctx, b.coop.ID, atB.ID, "Fully booked until June"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "A records the rejection", func() bool { return a.sent(req, b).State == referrals.OfferRejected })
			if got := a.sent(req, b); got.Reason != "Fully booked until June" {
				t.Errorf("reason at A: %q", got.Reason)
			}
			if got := a.state(req.PublicID); got != referrals.StateReferred {
				t.Errorf("A's request is %s", got)
			}
		})

		t.Run("first accept wins", func(t *testing.T) {
			req := a.intake()
			a.refer(req, b, c)
			b.awaitHeld(req.PublicID)
			atC := c.awaitHeld(req.PublicID)
			if _, err := c.n.Referrals.AcceptReceived(ctx, c.coop.ID, atC.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "A records C's accept", func() bool { return a.state(req.PublicID) == referrals.StateAccepted })
			if r, _ := a.held(req.PublicID); r.TakerActor != c.actor() {
				t.Errorf("taker at A: %q", r.TakerActor)
			}
			if got := a.sent(req, b).State; got != referrals.OfferWithdrawn {
				t.Errorf("A's offer to B is %s", got)
			}
			eventually(t, "B learns the offer was withdrawn", func() bool { return b.state(req.PublicID) == referrals.StateWithdrawn })
		})

		t.Run("passed on with consent", func(t *testing.T) {
			req := a.intake()
			a.refer(req, b)
			atB := b.awaitHeld(req.PublicID)
			b.refer(atB, c)
			atC := c.awaitHeld(req.PublicID)
			if atC.Hop != 2 || atC.FromActor != b.actor() || strings.Join(atC.Chain, " ") != a.actor()+" "+b.actor()+" "+c.actor() {
				t.Fatalf("request at C: %+v", atC)
			}
			if contact, err := c.n.Referrals.ContactFor(ctx, c.coop.ID, atC.ID); err != nil || contact.Name != "Ann" {
				t.Fatalf("contact at C: %v", err)
			}
			eventually(t, "A's trail shows B passed it on", func() bool { return strings.Contains(a.trail(req), "passed it on to "+c.coop.Name) })
			if _, err := c.n.Referrals.AcceptReceived(ctx, c.coop.ID, atC.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B records C's accept", func() bool { return b.state(req.PublicID) == referrals.StateAccepted })
			eventually(t, "A learns C took it, through B", func() bool { return a.state(req.PublicID) == referrals.StateAccepted })
			r, _ := a.held(req.PublicID)
			if r.TakerActor != c.actor() || a.sent(req, b).Taker.ActorID != c.actor() {
				t.Errorf("taker at A: %q, referral's %q", r.TakerActor, a.sent(req, b).Taker.ActorID)
			}
			if !strings.Contains(a.trail(req), c.coop.Name+" accepted (through "+b.coop.Name+")") {
				t.Errorf("A's trail: %s", a.trail(req))
			}

			// C may not send it back to A (loop), nor to anyone past the limit.
			if _, err := c.n.Referrals.Refer(ctx, c.coop.ID, atC.ID, []referrals.Peer{a.refPeer()}); err == nil {
				t.Error("C referred it back to A")
			}
			// A peer that ignores the rule: A refuses the loop, and says why.
			env := c.forgeForward(b.envelopeTo(req.PublicID, c), a.actor())
			if status := c.postOffer(a, env); status != http.StatusAccepted {
				t.Fatalf("forged offer: %d", status)
			}
			eventually(t, "A refuses the loop with a Reject", func() bool { return a.refusals("loop") == 1 })
		})

		t.Run("passed on twice, to a coop on the origin's node", func(t *testing.T) {
			coop, err := a.n.Store.CreateCoop(ctx, directory.Coop{Name: "Coop delta", Slug: "delta"})
			if err != nil {
				t.Fatal(err)
			}
			d := &peerNode{t: t, db: a.db, n: a.n, base: a.base, addr: a.addr, coop: coop} // node A, as delta
			req := a.intake()
			a.refer(req, b)
			b.refer(b.awaitHeld(req.PublicID), c)
			c.refer(c.awaitHeld(req.PublicID), d)
			atD := d.awaitHeld(req.PublicID)
			if atD.Hop != 3 || atD.FromActor != c.actor() {
				t.Fatalf("request at delta: %+v", atD)
			}
			// C tells B, and B relays to A, that it went on to delta.
			eventually(t, "B's trail shows C passed it on", func() bool {
				r, _ := b.held(req.PublicID)
				return strings.Contains(b.trail(r), c.coop.Name+" passed it on to Coop delta")
			})
			eventually(t, "A's trail shows it went on to delta", func() bool {
				return strings.Contains(a.trail(req), "passed it on to Coop delta")
			})
			if _, err := d.n.Referrals.AcceptReceived(ctx, d.coop.ID, atD.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "A learns delta took it", func() bool { return a.state(req.PublicID) == referrals.StateAccepted })
			if r, _ := a.held(req.PublicID); r.TakerActor != d.actor() {
				t.Errorf("taker at A: %q", r.TakerActor)
			}
		})

		t.Run("no consent, nothing is passed on", func(t *testing.T) {
			// A referral whose client did not consent to it going further
			// (sealed by A's keys directly: A's own store may refuse to send
			// such a request at all).
			p := referrals.Payload{PublicID: "noConsentRequest01", To: b.actor(),
				Details: referrals.Details{Organization: "Food Bank", Description: "Only for you."}}
			env, err := a.n.Referrals.Keys().Seal(ctx, referrals.Local{CoopID: a.coop.ID, ActorID: a.actor()}, p,
				referrals.Contact{Email: "cy@example.org"}, a.n.Federation.KeyResolver())
			if err != nil {
				t.Fatal(err)
			}
			if status := a.postOffer(b, env); status != http.StatusAccepted {
				t.Fatalf("offer: %d", status)
			}
			atB := b.awaitHeld(p.PublicID)
			_, err = b.n.Referrals.Refer(ctx, b.coop.ID, atB.ID, []referrals.Peer{c.refPeer()})
			if !errors.Is(err, referrals.ErrNoConsent) {
				t.Fatalf("refer without consent: %v", err)
			}
			refs, _ := b.n.Referrals.Referrals(ctx, b.coop.ID, atB.ID)
			if len(refs) != 1 || refs[0].Direction != referrals.Received {
				t.Fatalf("B's referrals: %+v", refs)
			}
			for _, o := range b.activities("Offer") {
				if strings.Contains(o["object"].(map[string]any)["id"].(string), p.PublicID) {
					t.Fatal("B sent an Offer")
				}
			}
			// Passed on all the same: C refuses it.
			if status := b.postOffer(c, b.forgeForward(env, c.actor())); status != http.StatusAccepted {
				t.Fatalf("forged offer: %d", status)
			}
			eventually(t, "C refuses it with a Reject", func() bool { return c.refusals("no-consent") == 1 })
			if _, ok := c.held(p.PublicID); ok {
				t.Error("C holds the request")
			}
		})

		t.Run("hop limit", func(t *testing.T) {
			// A request whose client allows one hop: B may not pass it on.
			short := referrals.NewStore(a.db, a.n.Referrals.Keys(), referrals.Config{HopLimit: 1})
			in := referrals.Intake{Details: referrals.Details{Description: "Short trip", ConsentToShare: true},
				Contact: referrals.Contact{Email: "bo@example.org"}}
			req, _, err := short.CreateRequest(ctx, referrals.Local{CoopID: a.coop.ID, ActorID: a.actor()}, in)
			if err != nil {
				t.Fatal(err)
			}
			a.refer(req, b)
			atB := b.awaitHeld(req.PublicID)
			if _, err := b.n.Referrals.Refer(ctx, b.coop.ID, atB.ID, []referrals.Peer{c.refPeer()}); !errors.Is(err, referrals.ErrHopLimit) {
				t.Fatalf("refer past the limit: %v", err)
			}
			// Passed on all the same: C refuses it.
			env := b.forgeForward(a.envelopeTo(req.PublicID, b), c.actor())
			if status := b.postOffer(c, env); status != http.StatusAccepted {
				t.Fatalf("forged offer: %d", status)
			}
			eventually(t, "C refuses it with a Reject", func() bool { return c.refusals("hop-limit") == 1 })
			if _, ok := c.held(req.PublicID); ok {
				t.Error("C holds the request")
			}
		})

		t.Run("altered on the way", func(t *testing.T) {
			// Captured from offers that travelled before: B's copy of
			// another contact, and a contact encrypted to C.
			var prior []referrals.Envelope
			for _, p := range []struct{ from, to *peerNode }{{a, b}, {a, c}} {
				req := p.from.intake()
				p.from.refer(req, p.to)
				p.to.awaitHeld(req.PublicID)
				prior = append(prior, p.from.envelopeTo(req.PublicID, p.to))
			}
			defer federation.TamperOffers(a.n.Federation, nil)
			for _, tc := range []struct {
				code  string
				alter func(env *referrals.Envelope)
			}{
				{"bad-signature", func(env *referrals.Envelope) {
					parts := strings.Split(env.Payload, ".")
					raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
					raw = bytes.Replace(raw, []byte("website"), []byte("webshop"), 1)
					parts[1] = base64.RawURLEncoding.EncodeToString(raw)
					env.Payload = strings.Join(parts, ".")
				}},
				{"tampered", func(env *referrals.Envelope) { env.Contact = prior[0].Contact }},
				{"not-for-us", func(env *referrals.Envelope) { env.Contact = prior[1].Contact }},
			} {
				tamper(a, b, func(_ map[string]any, env *referrals.Envelope) { tc.alter(env) })
				req := a.intake()
				a.refer(req, b)
				eventually(t, "A records B's refusal ("+tc.code+")", func() bool {
					return a.sent(req, b).State == referrals.OfferRejected
				})
				if got := a.sent(req, b).Reason; !strings.Contains(got, "("+tc.code+")") {
					t.Errorf("%s: reason at A %q", tc.code, got)
				}
				if _, ok := b.held(req.PublicID); ok {
					t.Errorf("%s: B holds the request", tc.code)
				}
			}
		})

		t.Run("withdrawn by the sender", func(t *testing.T) {
			federation.TamperOffers(a.n.Federation, nil)
			req := a.intake()
			ref := a.refer(req, b)[0]
			b.awaitHeld(req.PublicID)
			if _, err := a.n.Referrals.Withdraw(ctx, a.coop.ID, ref.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B's request is withdrawn", func() bool { return b.state(req.PublicID) == referrals.StateWithdrawn })
		})

		t.Run("an accept crossing a withdrawal", func(t *testing.T) {
			req := a.intake()
			a.refer(req, b, c)
			atB := b.awaitHeld(req.PublicID)
			atC := c.awaitHeld(req.PublicID)
			offerToC := a.sent(req, c).OfferID
			// C is down while B wins and A withdraws C's offer; C accepts
			// meanwhile (its Accept waits in its queue).
			c.stop()
			if _, err := b.n.Referrals.AcceptReceived(ctx, b.coop.ID, atB.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, "A records B's accept", func() bool { return a.state(req.PublicID) == referrals.StateAccepted })
			if _, err := c.n.Referrals.AcceptReceived(ctx, c.coop.ID, atC.ID); err != nil {
				t.Fatal(err)
			}
			c.restart()
			undos := func() int {
				n := 0
				for _, u := range a.activities("Undo") {
					if u["object"].(map[string]any)["id"] == offerToC {
						n++
					}
				}
				return n
			}
			eventually(t, "A answers C's late Accept with an Undo", func() bool { return undos() == 2 })
			if r, _ := a.held(req.PublicID); r.TakerActor != b.actor() {
				t.Errorf("A's taker is %q", r.TakerActor)
			}
			if got := c.state(req.PublicID); got != referrals.StateTaken {
				t.Errorf("C's state %s (its own stands)", got)
			}
		})
	})
}

// TestNetworkReferralUndelivered: B refuses A's deliveries, so A's Offer is
// given up. A's members see the referral marked undelivered, with why, and
// can still withdraw it. The same for an answer A refuses.
func TestNetworkReferralUndelivered(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta")
		if err := b.n.Federation.BlockHost(ctx, a.addr, "test"); err != nil {
			t.Fatal(err)
		}
		req := a.intake()
		ref := a.refer(req, b)[0]
		eventually(t, "A marks the referral undelivered", func() bool { return a.sent(req, b).UndeliveredAt != nil })
		got := a.sent(req, b)
		if got.State != referrals.OfferOffered || !strings.Contains(got.UndeliveredReason, "403") ||
			!strings.HasPrefix(got.UndeliveredReason, b.addr+" did not take it: ") {
			t.Fatalf("referral at A: state %s, reason %q", got.State, got.UndeliveredReason)
		}
		if trail := a.trail(req); strings.Count(trail, "Referral to Coop beta not delivered") != 1 {
			t.Errorf("A's trail: %q", trail)
		}
		if _, ok := b.held(req.PublicID); ok {
			t.Fatal("B holds the request it refused")
		}
		if _, err := a.n.Referrals.Withdraw(ctx, a.coop.ID, ref.ID); err != nil {
			t.Fatalf("withdraw the undelivered referral: %v", err)
		}

		// A blocks C's host: the Offer job cannot fetch C's keys, and gives
		// up at once.
		c := newPeer(t, open(t), "gamma")
		if err := a.n.Federation.BlockHost(ctx, c.addr, "test"); err != nil {
			t.Fatal(err)
		}
		req = a.intake()
		a.refer(req, c)
		eventually(t, "A marks the referral to C undelivered", func() bool { return a.sent(req, c).UndeliveredAt != nil })
		if got := a.sent(req, c).UndeliveredReason; got != "This node's federation policy blocks the coop's server." {
			t.Errorf("reason at A for C: %q", got)
		}

		// D receives a referral, then A blocks D's host: D's acceptance is
		// refused at A's inbox, and D's members see that A did not get it.
		dn := newPeer(t, open(t), "delta")
		req = a.intake()
		a.refer(req, dn)
		atD := dn.awaitHeld(req.PublicID)
		if err := a.n.Federation.BlockHost(ctx, dn.addr, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := dn.n.Referrals.AcceptReceived(ctx, dn.coop.ID, atD.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "D records that its acceptance did not reach A", func() bool {
			return strings.Contains(dn.trail(atD), "Our acceptance did not reach Coop alpha")
		})
		if got := a.state(req.PublicID); got != referrals.StateReferred {
			t.Errorf("A's request is %s", got)
		}

		// E receives a referral and then blocks A: A's withdrawal of it is
		// refused, and A's members see that E did not get it.
		e := newPeer(t, open(t), "epsilon")
		req = a.intake()
		toE := a.refer(req, e)[0]
		e.awaitHeld(req.PublicID)
		if err := e.n.Federation.BlockHost(ctx, a.addr, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.n.Referrals.Withdraw(ctx, a.coop.ID, toE.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "A records that its withdrawal did not reach E", func() bool {
			return strings.Contains(a.trail(req), "Our withdrawal did not reach Coop epsilon")
		})
	})
}
