package referrals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/internal/validate"
)

// The store conformance suite: every test runs on SQLite and on PostgreSQL.
// The coops of a testNet share one node, and the tests play federation's
// part between them: build the envelope, record the offer id, deliver.

var (
	alpha = Peer{ActorID: actorA, Name: "Alpha"}
	beta  = Peer{ActorID: actorB, Name: "Beta"}
	gamma = Peer{ActorID: actorC, Name: "Gamma"}
	delta = Peer{ActorID: actorD, Name: "Delta"}
)

type world struct {
	*testNet
	s *Store
}

func newWorld(t *testing.T, d *db.DB) world {
	t.Helper()
	n := newTestNet(t, d)
	return world{testNet: n, s: NewStore(d, n.keys, Config{})}
}

func intake() Intake {
	in := goodIntake()
	in.Deadline = time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	return in
}

func (w world) create(t *testing.T, mod func(in *Intake)) (Request, string) {
	t.Helper()
	in := intake()
	if mod != nil {
		mod(&in)
	}
	r, token, err := w.s.CreateRequest(context.Background(), w.coops[actorA], in)
	if err != nil {
		t.Fatal(err)
	}
	return r, token
}

// deliver sends a referral as federation would: envelope, offer id, and the
// receiving coop's ReceiveReferral. It returns the request made there.
func (w world) deliver(t *testing.T, from Peer, ref Referral) Request {
	t.Helper()
	ctx := context.Background()
	env, err := w.s.EnvelopeFor(ctx, ref, w)
	if err != nil {
		t.Fatal(err)
	}
	offerID := fmt.Sprintf("%s/offers/%d", from.ActorID, ref.ID)
	if err := w.s.SetOfferID(ctx, ref.ID, offerID); err != nil {
		t.Fatal(err)
	}
	c, err := w.s.ReceiveReferral(ctx, Incoming{To: w.coops[ref.Peer.ActorID], OfferID: offerID, From: from, Envelope: env}, w)
	if err != nil {
		t.Fatalf("deliver to %s: %v", ref.Peer.ActorID, err)
	}
	return c.Request
}

func (w world) refer(t *testing.T, at string, requestID int64, peers ...Peer) []Referral {
	t.Helper()
	c, err := w.s.Refer(context.Background(), w.coops[at].CoopID, requestID, peers)
	if err != nil {
		t.Fatal(err)
	}
	return c.Offered
}

func texts(events []Event) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Text)
	}
	return strings.Join(out, " | ")
}

func TestCreateRequest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		r, token, err := w.s.CreateRequest(ctx, w.coops[actorA], intake())
		if err != nil {
			t.Fatal(err)
		}
		if len(token) != 43 || len(r.PublicID) != 22 || r.State != StateNew || r.Hop != 0 || r.HopLimit != DefaultHopLimit ||
			r.Chain[0] != actorA || r.Organization != "Food Bank" || r.Currency != "EUR" {
			t.Fatalf("request %+v, token %q", r, token)
		}
		got, err := w.s.RequestByStatusToken(ctx, token)
		if err != nil || got.ID != r.ID || got.Description != r.Description || *got.BudgetMax != 5000 ||
			!got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("by token: %+v, %v", got, err)
		}
		if _, err := w.s.RequestByStatusToken(ctx, token+"x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("wrong token: %v", err)
		}
		if _, err := w.s.RequestByID(ctx, w.coops[actorB].CoopID, r.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another coop's request: %v", err)
		}
		var jwe string
		if err := d.QueryRow(ctx, `SELECT jwe FROM work_request_contacts WHERE request_id = $1`, r.ID).Scan(&jwe); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(jwe, "foodbank") || strings.Count(jwe, ".") != 4 {
			t.Fatalf("contact not stored as a JWE: %q", jwe)
		}
		c, err := w.s.ContactFor(ctx, w.coops[actorA].CoopID, r.ID)
		if err != nil || c.Email != "ann@foodbank.example" || c.Name != "Ann" {
			t.Fatalf("contact: %v", err)
		}
		trail, _ := w.s.Trail(ctx, r.ID, true)
		if texts(trail) != "Request received" {
			t.Fatalf("trail %q", texts(trail))
		}
		list, err := w.s.ListRequests(ctx, w.coops[actorA].CoopID, Filter{States: []State{StateNew}, Source: FromClients})
		if err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Fatalf("list: %d, %v", len(list), err)
		}
		if list, _ := w.s.ListRequests(ctx, w.coops[actorA].CoopID, Filter{Source: FromPeers}); len(list) != 0 {
			t.Fatalf("requests from peers: %d", len(list))
		}
	})
}

func TestCreateRequestRefusesBadInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		in := intake()
		in.Email, in.Description = "", ""
		_, _, err := w.s.CreateRequest(ctx, w.coops[actorA], in)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Fields["email"] == "" || ve.Fields["description"] == "" {
			t.Fatalf("got %v, want errors for email and description", err)
		}
		if _, _, err := w.s.CreateRequest(ctx, Local{CoopID: 999999, ActorID: actorA}, intake()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing coop: %v", err)
		}
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM work_requests`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d requests stored after refusals (%v)", n, err)
		}
	})
}

// A refers to B and C; B accepts first: C's offer is withdrawn, at A and at C.
func TestFirstAcceptWins(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		r, token := w.create(t, nil)
		offers := w.refer(t, actorA, r.ID, beta, gamma)
		atB := w.deliver(t, alpha, offers[0])
		atC := w.deliver(t, alpha, offers[1])
		if atB.Hop != 1 || atB.PublicID != r.PublicID || atB.FromActor != actorA || atB.Description != r.Description {
			t.Fatalf("at B: %+v", atB)
		}
		if c, err := w.s.ContactFor(ctx, w.coops[actorB].CoopID, atB.ID); err != nil || c.Email != "ann@foodbank.example" {
			t.Fatalf("contact at B: %v", err)
		}

		took, err := w.s.AcceptReceived(ctx, w.coops[actorB].CoopID, atB.ID)
		if err != nil {
			t.Fatal(err)
		}
		if took.Request.State != StateTaken || took.Answered == nil || took.Answered.OfferID != atB.OfferID ||
			took.Answered.Peer != alpha {
			t.Fatalf("B took it: %+v", took)
		}
		ans := Answer{OfferID: took.Answered.OfferID, AnswerID: actorB + "/accepts/1", Actor: actorB}
		won, err := w.s.RecordAccepted(ctx, ans)
		if err != nil {
			t.Fatal(err)
		}
		if won.Request.State != StateAccepted || won.Request.TakerActor != actorB || len(won.Withdrawn) != 1 ||
			won.Withdrawn[0].Peer.ActorID != actorC {
			t.Fatalf("A after B's accept: %+v", won)
		}
		// The accept resent: nothing changes.
		again, err := w.s.RecordAccepted(ctx, ans)
		if err != nil || len(again.Withdrawn) != 0 || again.Request.State != StateAccepted {
			t.Fatalf("resent accept: %+v, %v", again, err)
		}
		// C answering late is too late.
		late := Answer{OfferID: won.Withdrawn[0].OfferID, AnswerID: actorC + "/accepts/1", Actor: actorC}
		if _, err := w.s.RecordAccepted(ctx, late); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("late accept: %v", err)
		}
		// Federation tells C: its request is withdrawn.
		gone, err := w.s.RecordWithdrawn(ctx, won.Withdrawn[0].OfferID, actorA)
		if err != nil || gone.Request.ID != atC.ID || gone.Request.State != StateWithdrawn {
			t.Fatalf("C after the withdrawal: %+v, %v", gone.Request, err)
		}

		client, _ := w.s.Trail(ctx, r.ID, true)
		want := "Request received | Sent to Beta | Sent to Gamma | Beta accepted and will contact you"
		if texts(client) != want {
			t.Fatalf("client trail\n got %q\nwant %q", texts(client), want)
		}
		members, _ := w.s.Trail(ctx, r.ID, false)
		if !strings.Contains(texts(members), "Offer to Gamma withdrawn") {
			t.Fatalf("members' trail %q", texts(members))
		}
		if _, err := w.s.WithdrawRequest(ctx, token); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("client withdrawing an accepted request: %v", err)
		}
	})
}

// A refers to B, B passes it on to C, C takes it: B accepts A's offer on
// C's behalf, and A and its client learn who took it.
func TestPassedOn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		r, _ := w.create(t, nil)
		toB := w.refer(t, actorA, r.ID, beta)
		atB := w.deliver(t, alpha, toB[0])
		if _, err := w.s.Refer(ctx, w.coops[actorB].CoopID, atB.ID, []Peer{alpha}); !errors.Is(err, ErrLoop) {
			t.Fatalf("B referring back to A: %v", err)
		}
		toC := w.refer(t, actorB, atB.ID, gamma)
		atC := w.deliver(t, beta, toC[0])
		if atC.Hop != 2 || strings.Join(atC.Chain, " ") != actorA+" "+actorB+" "+actorC || atC.OriginActor != actorA {
			t.Fatalf("at C: hop %d chain %v", atC.Hop, atC.Chain)
		}
		offerAB, _ := w.s.ReferralByOfferID(ctx, Received, atB.OfferID)
		if _, err := w.s.RecordForwarded(ctx, Forwarded{OfferID: offerAB.OfferID, Actor: actorB, To: gamma}); err != nil {
			t.Fatal(err)
		}

		took, err := w.s.Take(ctx, w.coops[actorC].CoopID, atC.ID)
		if err != nil || took.Answered == nil {
			t.Fatalf("C takes it: %+v, %v", took, err)
		}
		atBNow, err := w.s.RecordAccepted(ctx, Answer{OfferID: took.Answered.OfferID, AnswerID: actorC + "/a/1", Actor: actorC})
		if err != nil {
			t.Fatal(err)
		}
		up := atBNow.Answered
		if atBNow.Request.State != StateAccepted || up == nil || up.State != OfferAccepted || up.Taker != gamma {
			t.Fatalf("B after C's accept: %+v, answered %+v", atBNow.Request, up)
		}
		atA, err := w.s.RecordAccepted(ctx, Answer{OfferID: up.OfferID, AnswerID: actorB + "/a/1", Actor: actorB, Taker: up.Taker})
		if err != nil {
			t.Fatal(err)
		}
		if atA.Request.TakerActor != actorC || atA.Request.TakerName != "Gamma" {
			t.Fatalf("A: taker %s", atA.Request.TakerActor)
		}
		client, _ := w.s.Trail(ctx, r.ID, true)
		want := "Request received | Sent to Beta | Beta passed it on to Gamma | Gamma accepted (through Beta) and will contact you"
		if texts(client) != want {
			t.Fatalf("client trail\n got %q\nwant %q", texts(client), want)
		}
		refs, _ := w.s.Referrals(ctx, w.coops[actorA].CoopID, r.ID)
		if len(refs) != 1 || refs[0].Taker != gamma || refs[0].AnsweredAt == nil {
			t.Fatalf("A's referral %+v", refs)
		}
	})
}

func TestReceiveRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		count := func() (n int) {
			d.QueryRow(ctx, `SELECT COUNT(*) FROM work_requests WHERE coop_id = $1`, w.coops[actorB].CoopID).Scan(&n)
			return n
		}
		r, _ := w.create(t, nil)
		toB := w.refer(t, actorA, r.ID, beta)[0]
		env, err := w.s.EnvelopeFor(ctx, toB, w)
		if err != nil {
			t.Fatal(err)
		}
		in := Incoming{To: w.coops[actorB], OfferID: actorA + "/offers/x", From: alpha, Envelope: env}

		wrongSender := in
		wrongSender.From = gamma
		if _, err := w.s.ReceiveReferral(ctx, wrongSender, w); !errors.Is(err, ErrTampered) {
			t.Fatalf("offer from C of A's referral: %v", err)
		}
		notForB := in
		notForB.To = w.coops[actorD]
		if _, err := w.s.ReceiveReferral(ctx, notForB, w); !errors.Is(err, ErrNotForUs) {
			t.Fatalf("delivered to D: %v", err)
		}
		first, err := w.s.ReceiveReferral(ctx, in, w)
		if err != nil {
			t.Fatal(err)
		}
		again, err := w.s.ReceiveReferral(ctx, in, w)
		if err != nil || again.Request.ID != first.Request.ID {
			t.Fatalf("same offer again: %v", err)
		}
		replay := in
		replay.Envelope = seal(t, w.testNet, actorB, nil)
		if _, err := w.s.ReceiveReferral(ctx, replay, w); !errors.Is(err, ErrReplay) {
			t.Fatalf("offer id reused: %v", err)
		}
		twice := in
		twice.OfferID += "-2"
		if _, err := w.s.ReceiveReferral(ctx, twice, w); !errors.Is(err, ErrLoop) {
			t.Fatalf("the same request by a second offer: %v", err)
		}
		expired := Incoming{To: w.coops[actorB], OfferID: actorA + "/offers/old", From: alpha,
			Envelope: seal(t, w.testNet, actorB, func(p *Payload) {
				p.PublicID = "req-expired000001"
				p.Created, p.Expires = time.Now().Add(-31*24*time.Hour), time.Now().Add(-24*time.Hour)
			})}
		if _, err := w.s.ReceiveReferral(ctx, expired, w); !errors.Is(err, ErrExpired) {
			t.Fatalf("expired: %v", err)
		}
		if n := count(); n != 1 {
			t.Fatalf("B holds %d requests, want 1", n)
		}
		// Without the client's consent, the request stays with the coop the
		// client wrote to.
		private, _ := w.create(t, func(in *Intake) { in.ConsentToShare = false })
		if _, err := w.s.Refer(ctx, w.coops[actorA].CoopID, private.ID, []Peer{beta}); !errors.Is(err, ErrNoConsent) {
			t.Fatalf("A referring without consent: %v", err)
		}
	})
}

func TestHopLimitThroughTheChain(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newTestNet(t, d)
		w := world{testNet: n, s: NewStore(d, n.keys, Config{HopLimit: 2})}
		r, _ := w.create(t, nil)
		atB := w.deliver(t, alpha, w.refer(t, actorA, r.ID, beta)[0])
		atC := w.deliver(t, beta, w.refer(t, actorB, atB.ID, gamma)[0])
		if atC.HopLimit != 2 {
			t.Fatalf("hop limit at C: %d", atC.HopLimit)
		}
		if _, err := w.s.Refer(ctx, w.coops[actorC].CoopID, atC.ID, []Peer{delta}); !errors.Is(err, ErrHopLimit) {
			t.Fatalf("C passing it on at the limit: %v", err)
		}
	})
}

// Moves refused by the state machine change nothing in the database.
func TestStoreTransitions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		a := w.coops[actorA].CoopID
		tests := []struct {
			name    string
			prepare func(t *testing.T, id int64)
			move    func(id int64) (Change, error)
			wantErr error
			want    State
		}{
			{"take", nil, func(id int64) (Change, error) { return w.s.Take(ctx, a, id) }, nil, StateTaken},
			{"decline needs a reason", nil, func(id int64) (Change, error) { return w.s.Decline(ctx, a, id, " ") }, nil, ""},
			{"decline", nil, func(id int64) (Change, error) { return w.s.Decline(ctx, a, id, "Not our field") }, nil, StateDeclined},
			{"take declined", func(t *testing.T, id int64) { must(t)(w.s.Decline(ctx, a, id, "no")) },
				func(id int64) (Change, error) { return w.s.Take(ctx, a, id) }, ErrInvalidTransition, ""},
			{"take while offers are open", func(t *testing.T, id int64) { w.refer(t, actorA, id, beta) },
				func(id int64) (Change, error) { return w.s.Take(ctx, a, id) }, ErrInvalidTransition, ""},
			{"take after withdrawing the offer", func(t *testing.T, id int64) {
				ref := w.refer(t, actorA, id, beta)[0]
				must(t)(w.s.Withdraw(ctx, a, ref.ID))
			}, func(id int64) (Change, error) { return w.s.Take(ctx, a, id) }, nil, StateTaken},
			{"close after withdrawing the offer", func(t *testing.T, id int64) {
				ref := w.refer(t, actorA, id, beta)[0]
				must(t)(w.s.Withdraw(ctx, a, ref.ID))
			}, func(id int64) (Change, error) { return w.s.Close(ctx, a, id, "") }, nil, StateUnplaced},
			{"refer to self", nil, func(id int64) (Change, error) { return w.s.Refer(ctx, a, id, []Peer{alpha}) }, ErrLoop, ""},
			{"refer to no one", nil, func(id int64) (Change, error) { return w.s.Refer(ctx, a, id, nil) }, nil, ""},
			{"refer twice to B", func(t *testing.T, id int64) { w.refer(t, actorA, id, beta) },
				func(id int64) (Change, error) { return w.s.Refer(ctx, a, id, []Peer{gamma, beta}) }, ErrLoop, ""},
			{"accept a received offer of a client's request", nil,
				func(id int64) (Change, error) { return w.s.AcceptReceived(ctx, a, id) }, ErrInvalidTransition, ""},
			{"outcome on new", nil, func(id int64) (Change, error) { return w.s.MarkOutcome(ctx, a, id, OutcomeCompleted) },
				ErrInvalidTransition, ""},
			{"outcome on taken", func(t *testing.T, id int64) { must(t)(w.s.Take(ctx, a, id)) },
				func(id int64) (Change, error) { return w.s.MarkOutcome(ctx, a, id, OutcomeInProgress) }, nil, StateTaken},
			{"another coop's request", nil,
				func(id int64) (Change, error) { return w.s.Take(ctx, w.coops[actorB].CoopID, id) }, ErrNotFound, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := w.create(t, nil)
				if tt.prepare != nil {
					tt.prepare(t, r.ID)
				}
				before := snapshot(t, d, r.ID)
				c, err := tt.move(r.ID)
				if tt.want == "" { // refused
					if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
						t.Fatalf("got %v, want %v", err, tt.wantErr)
					}
					if after := snapshot(t, d, r.ID); after != before {
						t.Fatalf("refused move changed the database: %s -> %s", before, after)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got, _ := w.s.RequestByID(ctx, a, r.ID)
				if c.Request.State != tt.want || got.State != tt.want || got.version != c.Request.version {
					t.Fatalf("state %s (stored %s), want %s", c.Request.State, got.State, tt.want)
				}
			})
		}
	})
}

func must(t *testing.T) func(Change, error) {
	return func(_ Change, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot sums up a request's rows, to see that a refused move wrote nothing.
func snapshot(t *testing.T, d *db.DB, id int64) string {
	t.Helper()
	var state string
	var version, refs, events int
	err := d.QueryRow(context.Background(), `SELECT state, version,
		(SELECT COUNT(*) FROM referrals WHERE request_id = $1),
		(SELECT COUNT(*) FROM referral_events WHERE request_id = $1)
		FROM work_requests WHERE id = $1`, id).Scan(&state, &version, &refs, &events)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s v%d refs %d events %d", state, version, refs, events)
}
