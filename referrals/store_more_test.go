package referrals

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// Two peers accept at once: exactly one wins, on both databases.
func TestConcurrentAccepts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		for round := 0; round < 5; round++ {
			r, _ := w.create(t, nil)
			offers := w.refer(t, actorA, r.ID, beta, gamma, delta)
			for _, o := range offers {
				if err := w.s.SetOfferID(ctx, o.ID, o.Peer.ActorID+"/offer/"+r.PublicID); err != nil {
					t.Fatal(err)
				}
			}
			errs := make([]error, len(offers))
			var wg sync.WaitGroup
			for i, o := range offers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = w.s.RecordAccepted(ctx, Answer{OfferID: o.Peer.ActorID + "/offer/" + r.PublicID,
						AnswerID: o.Peer.ActorID + "/accept/" + r.PublicID, Actor: o.Peer.ActorID})
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrInvalidTransition):
					t.Fatalf("unexpected error %v", err)
				}
			}
			refs, _ := w.s.Referrals(ctx, w.coops[actorA].CoopID, r.ID)
			accepted := 0
			for _, ref := range refs {
				if ref.State == OfferAccepted {
					accepted++
				}
			}
			if won != 1 || accepted != 1 {
				t.Fatalf("round %d: %d accepts succeeded, %d offers accepted; want 1 and 1", round, won, accepted)
			}
		}
	})
}

func TestRejectedThenTaken(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		a := w.coops[actorA].CoopID
		r, _ := w.create(t, nil)
		atB := w.deliver(t, alpha, w.refer(t, actorA, r.ID, beta)[0])
		if _, err := w.s.RejectReceived(ctx, w.coops[actorB].CoopID, atB.ID, ""); err == nil {
			t.Fatal("reject without a reason accepted")
		}
		no, err := w.s.RejectReceived(ctx, w.coops[actorB].CoopID, atB.ID, "Fully booked until autumn")
		if err != nil || no.Answered == nil || no.Answered.State != OfferRejected || no.Request.ClosedAt == nil {
			t.Fatalf("B rejects: %+v, %v", no, err)
		}
		ans := Answer{OfferID: no.Answered.OfferID, AnswerID: actorB + "/rejects/1", Actor: actorB, Reason: no.Answered.Reason}
		back, err := w.s.RecordRejected(ctx, ans)
		if err != nil || back.Request.State != StateReferred {
			t.Fatalf("A after the reject: %+v, %v", back.Request, err)
		}
		if _, err := w.s.RecordRejected(ctx, ans); err != nil {
			t.Fatalf("resent reject: %v", err)
		}
		if _, err := w.s.Take(ctx, a, r.ID); err != nil {
			t.Fatal(err)
		}
		trail, _ := w.s.Trail(ctx, r.ID, true)
		if got := texts(trail); !strings.Contains(got, "Beta could not take it | The coop took this on") ||
			strings.Contains(got, "autumn") {
			t.Fatalf("client trail %q", got)
		}
		members, _ := w.s.Trail(ctx, r.ID, false)
		if !strings.Contains(members[2].Detail, "autumn") {
			t.Fatalf("members do not see the reason: %+v", members[2])
		}
	})
}

func TestWithdrawals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		a := w.coops[actorA].CoopID
		r, token := w.create(t, nil)
		offers := w.refer(t, actorA, r.ID, beta, gamma)
		atB := w.deliver(t, alpha, offers[0])
		w.deliver(t, alpha, offers[1])

		c, err := w.s.Withdraw(ctx, a, offers[0].ID)
		if err != nil || len(c.Withdrawn) != 1 || c.Withdrawn[0].OfferID != atB.OfferID {
			t.Fatalf("withdraw B's offer: %+v, %v", c, err)
		}
		if _, err := w.s.Withdraw(ctx, a, offers[0].ID); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("withdraw twice: %v", err)
		}
		if _, err := w.s.Withdraw(ctx, w.coops[actorB].CoopID, offers[1].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("B withdrawing A's offer: %v", err)
		}
		if _, err := w.s.RecordWithdrawn(ctx, atB.OfferID, actorC); !errors.Is(err, ErrNotFound) {
			t.Fatalf("withdrawal by someone else: %v", err)
		}
		if c, err := w.s.RecordWithdrawn(ctx, atB.OfferID, actorA); err != nil || c.Request.State != StateWithdrawn {
			t.Fatalf("B after the withdrawal: %+v, %v", c.Request, err)
		}
		if _, err := w.s.RecordWithdrawn(ctx, atB.OfferID, actorA); err != nil {
			t.Fatalf("withdrawal resent: %v", err)
		}
		// The client withdraws: C's offer goes with it.
		c, err = w.s.WithdrawRequest(ctx, token)
		if err != nil || c.Request.State != StateWithdrawn || len(c.Withdrawn) != 1 || c.Withdrawn[0].Peer != gamma {
			t.Fatalf("client withdraws: %+v, %v", c, err)
		}
		if _, err := w.s.WithdrawRequest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		trail, _ := w.s.Trail(ctx, r.ID, true)
		if got := texts(trail); !strings.HasSuffix(got, "You withdrew this request") {
			t.Fatalf("client trail %q", got)
		}
	})
}

func TestOutcomeStatsPurge(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		a, b := w.coops[actorA].CoopID, w.coops[actorB].CoopID
		start := time.Now().Add(-time.Hour)

		// 1: A → B, B takes it and completes it; A marks it completed too.
		r1, _ := w.create(t, nil)
		atB := w.deliver(t, alpha, w.refer(t, actorA, r1.ID, beta)[0])
		took, _ := w.s.Take(ctx, b, atB.ID)
		must(t)(w.s.RecordAccepted(ctx, Answer{OfferID: took.Answered.OfferID, AnswerID: "acc-1", Actor: actorB}))
		must(t)(w.s.MarkOutcome(ctx, b, atB.ID, OutcomeCompleted))
		must(t)(w.s.MarkOutcome(ctx, a, r1.ID, OutcomeCompleted))
		// 2: A → B and C, both reject; A takes it, work in progress (open).
		r2, _ := w.create(t, nil)
		for _, o := range w.refer(t, actorA, r2.ID, beta, gamma) {
			if err := w.s.SetOfferID(ctx, o.ID, "offer-2-"+o.Peer.ActorID); err != nil {
				t.Fatal(err)
			}
			must(t)(w.s.RecordRejected(ctx, Answer{OfferID: "offer-2-" + o.Peer.ActorID, AnswerID: "rej-2-" + o.Peer.ActorID,
				Actor: o.Peer.ActorID}))
		}
		must(t)(w.s.Take(ctx, a, r2.ID))
		must(t)(w.s.MarkOutcome(ctx, a, r2.ID, OutcomeInProgress))
		// 3: declined (closed).
		r3, _ := w.create(t, nil)
		must(t)(w.s.Decline(ctx, a, r3.ID, "Not our field"))

		st, err := w.s.Stats(ctx, a, start, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []PeerStats{
			{Peer: actorB, PeerName: "Beta", Sent: 2, SentAccepted: 1, SentCompleted: 1},
			{Peer: actorC, PeerName: "Gamma", Sent: 1},
		}
		if len(st.Peers) != 2 || st.Peers[0] != want[0] || st.Peers[1] != want[1] {
			t.Fatalf("A's stats %+v", st.Peers)
		}
		month := time.Now().UTC().Format("2006-01")
		if len(st.Months) != 2 || st.Months[0].Month != month || st.Months[0].Sent != 2 {
			t.Fatalf("A's months %+v", st.Months)
		}
		stB, _ := w.s.Stats(ctx, b, start, time.Now().Add(time.Hour))
		if len(stB.Peers) != 1 || stB.Peers[0].Received != 1 || stB.Peers[0].ReceivedAccepted != 1 ||
			stB.Peers[0].ReceivedCompleted != 1 {
			t.Fatalf("B's stats %+v", stB.Peers)
		}
		if none, _ := w.s.Stats(ctx, a, start.Add(-48*time.Hour), start); len(none.Peers) != 0 {
			t.Fatalf("stats before anything: %+v", none.Peers)
		}

		// Nothing closed a day ago yet; with no delay, the closed ones go.
		if n, err := w.s.PurgeContacts(ctx, 24*time.Hour); err != nil || n != 0 {
			t.Fatalf("purge of day-old: %d, %v", n, err)
		}
		n, err := w.s.PurgeContacts(ctx, 0)
		if err != nil || n != 3 { // r1 and B's copy (completed), r3 (declined); r2 is open
			t.Fatalf("purged %d (%v), want 3", n, err)
		}
		if _, err := w.s.ContactFor(ctx, a, r1.ID); !errors.Is(err, ErrContactPurged) {
			t.Fatalf("contact after purge: %v", err)
		}
		if _, err := w.s.ContactFor(ctx, a, r2.ID); err != nil {
			t.Fatalf("open request's contact: %v", err)
		}
		got, _ := w.s.RequestByID(ctx, a, r1.ID)
		if got.PurgedAt == nil || got.Organization != "" || got.Description != "" || got.Country != "DE" ||
			got.Outcome != OutcomeCompleted {
			t.Fatalf("purged request %+v", got)
		}
		if again, _ := w.s.Stats(ctx, a, start, time.Now().Add(time.Hour)); again.Peers[0] != want[0] {
			t.Fatalf("stats after purge %+v", again.Peers)
		}
		if n, _ := w.s.PurgeContacts(ctx, 0); n != 0 {
			t.Fatalf("second purge: %d", n)
		}
	})
}

func TestSetOfferID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		r, _ := w.create(t, nil)
		offers := w.refer(t, actorA, r.ID, beta, gamma)
		if err := w.s.SetOfferID(ctx, offers[0].ID, "o-1"); err != nil {
			t.Fatal(err)
		}
		if err := w.s.SetOfferID(ctx, offers[0].ID, "o-1"); err != nil {
			t.Fatalf("same id again: %v", err)
		}
		if err := w.s.SetOfferID(ctx, offers[0].ID, "o-2"); !errors.Is(err, ErrConflict) {
			t.Fatalf("another id: %v", err)
		}
		if err := w.s.SetOfferID(ctx, offers[1].ID, "o-1"); !errors.Is(err, ErrConflict) {
			t.Fatalf("an id in use: %v", err)
		}
		ref, err := w.s.ReferralByOfferID(ctx, Sent, "o-1")
		if err != nil || ref.ID != offers[0].ID || ref.Peer != beta {
			t.Fatalf("by offer id: %+v, %v", ref, err)
		}
	})
}

func TestMarkUndelivered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		a := w.coops[actorA].CoopID
		r, _ := w.create(t, nil)
		offers := w.refer(t, actorA, r.ID, beta, gamma)
		if err := w.s.SetOfferID(ctx, offers[0].ID, "o-1"); err != nil {
			t.Fatal(err)
		}
		c, err := w.s.MarkOfferUndelivered(ctx, "o-1", " beta.example answered 403 Forbidden\x00 ")
		if err != nil || len(c.Events) != 1 || c.Events[0].Kind != EventUndelivered || c.Events[0].ClientVisible ||
			c.Events[0].Text != "Referral to Beta not delivered" {
			t.Fatalf("marked: %+v, %v", c.Events, err)
		}
		ref, err := w.s.ReferralByOfferID(ctx, Sent, "o-1")
		if err != nil || ref.UndeliveredAt == nil || ref.UndeliveredReason != "beta.example answered 403 Forbidden" ||
			ref.State != OfferOffered {
			t.Fatalf("referral after the failure: %+v, %v", ref, err)
		}
		// Reported again (River runs a refused job after the eager run):
		// nothing changes, no second event.
		if c, err := w.s.MarkUndelivered(ctx, offers[0].ID, "again"); err != nil || len(c.Events) != 0 {
			t.Fatalf("marked twice: %+v, %v", c.Events, err)
		}
		if ref, _ := w.s.ReferralByOfferID(ctx, Sent, "o-1"); ref.UndeliveredReason != "beta.example answered 403 Forbidden" {
			t.Errorf("reason after a second report: %q", ref.UndeliveredReason)
		}
		// The members can still withdraw it and refer elsewhere.
		if _, err := w.s.Withdraw(ctx, a, offers[0].ID); err != nil {
			t.Fatalf("withdraw an undelivered referral: %v", err)
		}
		// A failure reported after the withdrawal changes nothing.
		if _, err := w.s.Withdraw(ctx, a, offers[1].ID); err != nil {
			t.Fatal(err)
		}
		if c, err := w.s.MarkUndelivered(ctx, offers[1].ID, "late"); err != nil || len(c.Events) != 0 {
			t.Fatalf("marked after withdrawal: %+v, %v", c.Events, err)
		}
		if _, err := w.s.MarkOfferUndelivered(ctx, "https://elsewhere.example/activities/1", "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an activity that is no Offer: %v", err)
		}
		members, _ := w.s.Trail(ctx, r.ID, false)
		client, _ := w.s.Trail(ctx, r.ID, true)
		if !strings.Contains(texts(members), "Referral to Beta not delivered") || strings.Contains(texts(client), "not delivered") {
			t.Errorf("trail: members %q, client %q", texts(members), texts(client))
		}
	})
}

func TestMarkReplyUndelivered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		b := w.coops[actorB].CoopID
		r, _ := w.create(t, nil)
		offers := w.refer(t, actorA, r.ID, beta, gamma)
		atB := w.deliver(t, alpha, offers[0])

		// Not answered yet: there is no answer to lose.
		if c, err := w.s.MarkReplyUndelivered(ctx, b, atB.OfferID, "x"); err != nil || len(c.Events) != 0 {
			t.Fatalf("before the answer: %+v, %v", c.Events, err)
		}
		if _, err := w.s.AcceptReceived(ctx, b, atB.ID); err != nil {
			t.Fatal(err)
		}
		c, err := w.s.MarkReplyUndelivered(ctx, b, atB.OfferID, "a.example did not take it: refused: HTTP 403 Forbidden")
		if err != nil || len(c.Events) != 1 || c.Events[0].Kind != EventAnswerUndelivered || c.Events[0].ClientVisible ||
			c.Events[0].Text != "Our acceptance did not reach Alpha" || c.Events[0].Detail != "a.example did not take it: refused: HTTP 403 Forbidden" {
			t.Fatalf("marked: %+v, %v", c.Events, err)
		}
		if c, err := w.s.MarkReplyUndelivered(ctx, b, atB.OfferID, "again"); err != nil || len(c.Events) != 0 {
			t.Fatalf("marked twice: %+v, %v", c.Events, err)
		}
		// Only the coop that received it, and only an Offer it received.
		if _, err := w.s.MarkReplyUndelivered(ctx, w.coops[actorC].CoopID, atB.OfferID, "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another coop: %v", err)
		}
		if _, err := w.s.MarkReplyUndelivered(ctx, b, "https://elsewhere.example/offers/1", "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an unknown offer: %v", err)
		}
		trail, _ := w.s.Trail(ctx, atB.ID, false)
		if got := texts(trail); strings.Count(got, "Our acceptance did not reach Alpha") != 1 {
			t.Errorf("B's trail: %q", got)
		}

		// A withdraws its offer to C, and the Undo does not reach C.
		if err := w.s.SetOfferID(ctx, offers[1].ID, "o-c"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.s.Withdraw(ctx, w.coops[actorA].CoopID, offers[1].ID); err != nil {
			t.Fatal(err)
		}
		c, err = w.s.MarkReplyUndelivered(ctx, w.coops[actorA].CoopID, "o-c", "c.example did not take it")
		if err != nil || len(c.Events) != 1 || c.Events[0].Kind != EventWithdrawalUndelivered ||
			c.Events[0].Text != "Our withdrawal did not reach Gamma" {
			t.Fatalf("withdrawal marked: %+v, %v", c.Events, err)
		}
		if c, err := w.s.MarkReplyUndelivered(ctx, w.coops[actorA].CoopID, "o-c", "again"); err != nil || len(c.Events) != 0 {
			t.Fatalf("withdrawal marked twice: %+v, %v", c.Events, err)
		}
	})
}
