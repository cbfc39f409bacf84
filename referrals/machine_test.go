package referrals

import (
	"errors"
	"testing"
	"time"
)

const (
	actorA = "https://a.example/coops/alpha"
	actorB = "https://b.example/coops/beta"
	actorC = "https://c.example/coops/gamma"
	actorD = "https://d.example/coops/delta"
)

var now = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

// origin is a request at A, fresh from a client.
func origin(state State) Request {
	return Request{ID: 1, CoopID: 1, PublicID: "pub-000000000000001", OriginActor: actorA, HopLimit: 3,
		Chain: []string{actorA}, State: state, ExpiresAt: now.Add(time.Hour), Details: Details{ConsentToShare: true}}
}

// atB is a request A referred to B.
func atB(state State, consent bool) Request {
	r := origin(state)
	r.Hop, r.Chain, r.FromActor, r.OfferID = 1, []string{actorA, actorB}, actorA, "https://a.example/offers/1"
	r.ConsentToShare = consent
	return r
}

func sent(id int64, peer string, s OfferState) Referral {
	return Referral{ID: id, RequestID: 1, Peer: Peer{ActorID: peer, Name: peer[8:9]}, Direction: Sent, State: s,
		OfferID: "offer-" + peer}
}

func received(s OfferState) Referral {
	return Referral{ID: 9, RequestID: 1, Peer: Peer{ActorID: actorA, Name: "Alpha"}, Direction: Received, State: s,
		OfferID: "https://a.example/offers/1"}
}

func TestTransitions(t *testing.T) {
	accept := func(peer, answerID string) func(a *aggregate) error {
		return func(a *aggregate) error {
			return a.recordAccepted(Answer{OfferID: "offer-" + peer, AnswerID: answerID, Actor: peer})
		}
	}
	tests := []struct {
		name    string
		req     Request
		refs    []Referral
		move    func(a *aggregate) error
		wantErr error
		want    State
		check   func(t *testing.T, c Change)
	}{
		{name: "take new", req: origin(StateNew), move: (*aggregate).take, want: StateTaken},
		{name: "take with offers open", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: (*aggregate).take, wantErr: ErrInvalidTransition},
		{name: "take after all rejected", req: origin(StateReferred),
			refs: []Referral{sent(1, actorB, OfferRejected), sent(2, actorC, OfferWithdrawn)}, move: (*aggregate).take, want: StateTaken},
		{name: "take taken", req: origin(StateTaken), move: (*aggregate).take, wantErr: ErrInvalidTransition},
		{name: "take received accepts upstream", req: atB(StateNew, false), refs: []Referral{received(OfferOffered)},
			move: (*aggregate).take, want: StateTaken, check: func(t *testing.T, c Change) {
				if c.Answered == nil || c.Answered.State != OfferAccepted {
					t.Fatalf("answered = %+v, want the upstream offer accepted", c.Answered)
				}
			}},
		{name: "decline new", req: origin(StateNew), move: func(a *aggregate) error { return a.decline("too busy") },
			want: StateDeclined, check: func(t *testing.T, c Change) {
				if c.Request.ClosedAt == nil {
					t.Fatal("declined request not closed")
				}
			}},
		{name: "decline accepted", req: origin(StateAccepted), move: func(a *aggregate) error { return a.decline("x") },
			wantErr: ErrInvalidTransition},
		{name: "decline received rejects upstream", req: atB(StateNew, true), refs: []Referral{received(OfferOffered)},
			move: func(a *aggregate) error { return a.decline("not our field") }, want: StateDeclined,
			check: func(t *testing.T, c Change) {
				if c.Answered == nil || c.Answered.State != OfferRejected || c.Answered.Reason != "not our field" {
					t.Fatalf("answered = %+v", c.Answered)
				}
			}},
		{name: "close new", req: origin(StateNew), move: func(a *aggregate) error { return a.closeUnplaced("") },
			wantErr: ErrInvalidTransition},
		{name: "close after rejections", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferRejected)},
			move: func(a *aggregate) error { return a.closeUnplaced("") }, want: StateUnplaced},
		{name: "refer new", req: origin(StateNew), move: referTo(actorB, actorC), want: StateReferred,
			check: func(t *testing.T, c Change) {
				if len(c.Offered) != 2 || c.Offered[0].State != OfferOffered {
					t.Fatalf("offered = %+v", c.Offered)
				}
			}},
		{name: "refer more while open", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: referTo(actorC), want: StateReferred},
		{name: "refer received without consent", req: atB(StateNew, false), refs: []Referral{received(OfferOffered)},
			move: referTo(actorC), wantErr: ErrNoConsent},
		{name: "refer without the client's consent", req: func() Request { r := origin(StateNew); r.ConsentToShare = false; return r }(),
			move: referTo(actorB), wantErr: ErrNoConsent},
		{name: "refer received with consent", req: atB(StateNew, true), refs: []Referral{received(OfferOffered)},
			move: referTo(actorC), want: StateReferred},
		{name: "refer at hop limit", req: func() Request { r := atB(StateNew, true); r.HopLimit = 1; return r }(),
			move: referTo(actorC), wantErr: ErrHopLimit},
		{name: "refer to self", req: origin(StateNew), move: referTo(actorA), wantErr: ErrLoop},
		{name: "refer back to origin", req: atB(StateNew, true), move: referTo(actorA), wantErr: ErrLoop},
		{name: "refer twice to a peer", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferRejected)},
			move: referTo(actorB), wantErr: ErrLoop},
		{name: "refer expired", req: func() Request { r := origin(StateNew); r.ExpiresAt = now.Add(-time.Second); return r }(),
			move: referTo(actorB), wantErr: ErrExpired},
		{name: "refer declined", req: origin(StateDeclined), move: referTo(actorB), wantErr: ErrInvalidTransition},
		{name: "withdraw open offer", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: func(a *aggregate) error { return a.withdrawOffer(1) }, want: StateReferred,
			check: func(t *testing.T, c Change) {
				if len(c.Withdrawn) != 1 || c.Withdrawn[0].State != OfferWithdrawn {
					t.Fatalf("withdrawn = %+v", c.Withdrawn)
				}
			}},
		{name: "withdraw accepted offer", req: origin(StateAccepted), refs: []Referral{sent(1, actorB, OfferAccepted)},
			move: func(a *aggregate) error { return a.withdrawOffer(1) }, wantErr: ErrInvalidTransition},
		{name: "withdraw a received offer", req: atB(StateNew, true), refs: []Referral{received(OfferOffered)},
			move: func(a *aggregate) error { return a.withdrawOffer(9) }, wantErr: ErrInvalidTransition},
		{name: "first accept wins", req: origin(StateReferred),
			refs: []Referral{sent(1, actorB, OfferOffered), sent(2, actorC, OfferOffered), sent(3, actorD, OfferRejected)},
			move: accept(actorC, "acc-1"), want: StateAccepted, check: func(t *testing.T, c Change) {
				if len(c.Withdrawn) != 1 || c.Withdrawn[0].Peer.ActorID != actorB {
					t.Fatalf("withdrawn = %+v, want the offer to B", c.Withdrawn)
				}
				if c.Request.TakerActor != actorC || c.Request.ClosedAt == nil {
					t.Fatalf("request = %+v", c.Request)
				}
			}},
		{name: "second accept refused", req: origin(StateAccepted),
			refs: []Referral{sent(1, actorB, OfferWithdrawn), sent(2, actorC, OfferAccepted)},
			move: accept(actorB, "acc-2"), wantErr: ErrInvalidTransition},
		{name: "accept by another actor", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: func(a *aggregate) error {
				return a.recordAccepted(Answer{OfferID: "offer-" + actorB, AnswerID: "x", Actor: actorC})
			}, wantErr: ErrNotFound},
		{name: "accept resent", req: origin(StateAccepted),
			refs: []Referral{func() Referral { r := sent(1, actorB, OfferAccepted); r.AnswerID = "acc-1"; return r }()},
			move: accept(actorB, "acc-1"), want: StateAccepted},
		{name: "accept at B answers A for C", req: atB(StateReferred, true),
			refs: []Referral{received(OfferOffered), sent(1, actorC, OfferOffered)},
			move: accept(actorC, "acc-c"), want: StateAccepted, check: func(t *testing.T, c Change) {
				if c.Answered == nil || c.Answered.State != OfferAccepted || c.Answered.Taker.ActorID != actorC {
					t.Fatalf("answered = %+v, want A's offer accepted for C", c.Answered)
				}
			}},
		{name: "reject", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: func(a *aggregate) error {
				return a.recordRejected(Answer{OfferID: "offer-" + actorB, AnswerID: "rej", Actor: actorB, Reason: "full"})
			}, want: StateReferred},
		{name: "peer withdrew new", req: atB(StateReferred, true),
			refs: []Referral{received(OfferOffered), sent(1, actorC, OfferOffered)},
			move: func(a *aggregate) error { return a.peerWithdrew("https://a.example/offers/1", actorA) },
			want: StateWithdrawn, check: func(t *testing.T, c Change) {
				if len(c.Withdrawn) != 1 || c.Withdrawn[0].Peer.ActorID != actorC {
					t.Fatalf("withdrawn = %+v, want the offer to C withdrawn too", c.Withdrawn)
				}
			}},
		{name: "peer withdrew after we accepted", req: atB(StateTaken, true), refs: []Referral{received(OfferAccepted)},
			move:    func(a *aggregate) error { return a.peerWithdrew("https://a.example/offers/1", actorA) },
			wantErr: ErrInvalidTransition},
		{name: "client withdraws", req: origin(StateReferred), refs: []Referral{sent(1, actorB, OfferOffered)},
			move: (*aggregate).withdrawRequest, want: StateWithdrawn},
		{name: "client withdraws taken", req: origin(StateTaken), move: (*aggregate).withdrawRequest,
			wantErr: ErrInvalidTransition},
		{name: "outcome completed", req: origin(StateTaken),
			move: func(a *aggregate) error { return a.markOutcome(OutcomeCompleted) }, want: StateTaken,
			check: func(t *testing.T, c Change) {
				if c.Request.Outcome != OutcomeCompleted || c.Request.ClosedAt == nil {
					t.Fatalf("request = %+v", c.Request)
				}
			}},
		{name: "outcome on new", req: origin(StateNew),
			move: func(a *aggregate) error { return a.markOutcome(OutcomeLost) }, wantErr: ErrInvalidTransition},
		{name: "unknown outcome", req: origin(StateAccepted),
			move: func(a *aggregate) error { return a.markOutcome("won") }, wantErr: ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAggregate(tt.req, append([]Referral(nil), tt.refs...), now)
			err := tt.move(a)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := a.change()
			if c.Request.State != tt.want {
				t.Fatalf("state %s, want %s", c.Request.State, tt.want)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func referTo(actors ...string) func(a *aggregate) error {
	return func(a *aggregate) error {
		var peers []Peer
		for _, p := range actors {
			peers = append(peers, Peer{ActorID: p})
		}
		return a.refer(peers)
	}
}

func TestTransitionErrorNamesStates(t *testing.T) {
	err := CheckTake(origin(StateDeclined), nil)
	var te *TransitionError
	if !errors.As(err, &te) || te.From != "declined" {
		t.Fatalf("got %v, want a TransitionError from declined", err)
	}
	if got := err.Error(); got != "referrals: cannot take the request: it is declined" {
		t.Fatalf("message %q", got)
	}
}

func TestContactNeverPrints(t *testing.T) {
	c := Contact{Name: "Ann", Email: "ann@example.org", Phone: "+1 555"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := sprintf(verb, c); got != "[contact redacted]" {
			t.Errorf("%s printed %q", verb, got)
		}
	}
	in := Intake{Contact: c}
	if got := sprintf("%+v", in); containsAny(got, "ann@example.org", "Ann", "555") {
		t.Errorf("intake printed %q", got)
	}
}
