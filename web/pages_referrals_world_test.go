package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/referrals"
)

// Fixtures of the work request tests: a node hosting alpha (the test
// coop) and beta, a peer's coop it knows, and the moves federation would
// make between alpha and beta, played here on one node.

const testBase = "http://localhost:8080"

func testActor(slug string) string { return testBase + "/coops/" + slug }

// refWorld is a test node with a second local coop, beta (a member's
// session and token), and a peer's coop, kiwi, both offering data work.
type refWorld struct {
	*testNode
	beta        directory.Coop
	betaCookie  string
	betaToken   string
	alphaCookie string
	alphaToken  string
}

const kiwiActor = "https://kiwi.example/coops/kiwi"

func newRefWorld(t *testing.T, n *testNode) *refWorld {
	t.Helper()
	ctx := context.Background()
	beta, betaToken := n.apiOtherCoop(t)
	beta.Capacity, beta.Languages, beta.Discoverable = directory.CapacityOpen, []string{"es"}, true
	beta, err := n.store.UpdateCoop(ctx, beta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.CreateService(ctx, beta.ID, directory.Service{Title: "Donor databases", Category: "data-crm",
		Pricing: "hourly", Tags: []string{"CiviCRM"}, Active: true}); err != nil {
		t.Fatal(err)
	}
	n.dirAddPeer(t, "kiwi.example", directory.Coop{Name: "Kiwi Cooperativa", Country: "ES", Capacity: directory.CapacityLimited,
		Discoverable: true}, directory.Service{Title: "CRM migrations", Category: "data-crm", Pricing: "fixed"})
	n.syncDirectory(t)
	bo, err := n.store.MemberByEmail(ctx, "bo@beta.example")
	if err != nil {
		t.Fatal(err)
	}
	return &refWorld{testNode: n, beta: beta, betaCookie: n.session(t, bo), betaToken: betaToken,
		alphaCookie: n.session(t, n.admin), alphaToken: n.token(t, n.admin)}
}

// goodRequest is a work request form as a client fills it in.
func goodRequest() url.Values {
	return url.Values{
		"organization": {"Friends of the Park"}, "contact_name": {"Pat Doe"}, "email": {"pat@park.example"},
		"phone": {"+1 555 0100"}, "description": {"We need a CiviCRM database for our donors."},
		"categories": {"data-crm"}, "skills": {"CiviCRM, reporting"}, "budget_min": {"2000"}, "budget_max": {"5000"},
		"currency": {"eur"}, "deadline": {time.Now().AddDate(0, 2, 0).Format(time.DateOnly)}, "country": {"es"},
		"region": {"Madrid"}, "language": {"es"}, "consent_to_share": {"on"},
	}
}

// request records a client's request to coop (alpha when nil) through the
// store, and returns it with its status token.
func (w *refWorld) request(t *testing.T, co *directory.Coop, mod func(in *referrals.Intake)) (referrals.Request, string) {
	t.Helper()
	if co == nil {
		co = &w.coop
	}
	in, e := intakeFromValues(goodRequest())
	if len(e) > 0 {
		t.Fatal(e)
	}
	if mod != nil {
		mod(&in)
	}
	r, token, err := w.refs.CreateRequest(context.Background(), referrals.Local{CoopID: co.ID, ActorID: testActor(co.Slug)}, in)
	if err != nil {
		t.Fatal(err)
	}
	return r, token
}

// localKeys resolves the referral keys of coops hosted on the test node,
// as federation resolves peers' over HTTP.
type localKeys struct{ w *refWorld }

func (k localKeys) set(ctx context.Context, actor string) (jose.JSONWebKeySet, error) {
	slug, ok := strings.CutPrefix(actor, testBase+"/coops/")
	if !ok {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: no keys for %s", referrals.ErrBadSignature, actor)
	}
	co, err := k.w.store.CoopBySlug(ctx, slug)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return k.w.refs.Keys().PublicJWKS(ctx, co.ID)
}

func (k localKeys) VerificationKey(ctx context.Context, actor, kid string) (*jose.JSONWebKey, error) {
	set, err := k.set(ctx, actor)
	if err != nil {
		return nil, err
	}
	return referrals.VerificationKeyFrom(set, kid)
}

func (k localKeys) EncryptionKey(ctx context.Context, actor string) (*jose.JSONWebKey, error) {
	set, err := k.set(ctx, actor)
	if err != nil {
		return nil, err
	}
	return referrals.EncryptionKeyFrom(set)
}

// deliver plays federation: the offer ref (sent by from) reaches the local
// coop it names, which holds a request of its own then, returned.
func (w *refWorld) deliver(t *testing.T, from directory.Coop, ref referrals.Referral) referrals.Request {
	t.Helper()
	ctx := context.Background()
	env, err := w.refs.EnvelopeFor(ctx, ref, localKeys{w})
	if err != nil {
		t.Fatal(err)
	}
	offerID := offerIDOf(from, ref)
	if err := w.refs.SetOfferID(ctx, ref.ID, offerID); err != nil {
		t.Fatal(err)
	}
	to, err := w.store.CoopBySlug(ctx, strings.TrimPrefix(ref.Peer.ActorID, testBase+"/coops/"))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := w.refs.ReceiveReferral(ctx, referrals.Incoming{To: referrals.Local{CoopID: to.ID, ActorID: ref.Peer.ActorID},
		OfferID: offerID, From: referrals.Peer{ActorID: testActor(from.Slug), Name: from.Name}, Envelope: env}, localKeys{w})
	if err != nil {
		t.Fatal(err)
	}
	return ch.Request
}

// referToBeta refers alpha's request r to beta through the store and
// delivers it: it returns alpha's referral and beta's request.
func (w *refWorld) referToBeta(t *testing.T, r referrals.Request) (referrals.Referral, referrals.Request) {
	t.Helper()
	ch, err := w.refs.Refer(context.Background(), w.coop.ID, r.ID, []referrals.Peer{{ActorID: testActor("beta"), Name: w.beta.Name}})
	if err != nil {
		t.Fatal(err)
	}
	ref := ch.Offered[0]
	got := w.deliver(t, w.coop, ref)
	ref.OfferID = offerIDOf(w.coop, ref)
	return ref, got
}

// offerIDOf is the id of the Offer of ref, as deliver makes it.
func offerIDOf(from directory.Coop, ref referrals.Referral) string {
	return fmt.Sprintf("%s/offers/%d", testActor(from.Slug), ref.ID)
}

// answerTo is the peer's answer to the offer ref (with OfferID set).
func answerTo(ref referrals.Referral, reason string) referrals.Answer {
	return referrals.Answer{OfferID: ref.OfferID, AnswerID: ref.OfferID + "/answer", Actor: ref.Peer.ActorID, Reason: reason}
}

// statusLink finds the status link's path on the confirmation page.
func statusLink(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	m := regexp.MustCompile(`href="(/requests/[A-Za-z0-9_-]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no status link on the page:\n%s", rec.Body)
	}
	return m[1]
}

// wantPrivate checks the headers that keep a status link out of caches
// and Referer headers.
func wantPrivate(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if rp := rec.Header().Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", rp)
	}
}

// requestCount counts the requests coop holds.
func (w *refWorld) requestCount(t *testing.T, coopID int64) int {
	t.Helper()
	list, err := w.refs.ListRequests(context.Background(), coopID, referrals.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}
