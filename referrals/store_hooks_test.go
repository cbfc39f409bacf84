package referrals

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// TestChangeHooks checks that every move that returns a Change tells the
// hooks, in order, inside its transaction, and that a hook's error undoes
// the move.
func TestChangeHooks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newWorld(t, d)
		var seen []string
		var changes []Change
		w.s.OnChange(func(ctx context.Context, tx *sql.Tx, ch Change) error {
			// The hook sees the change being made, through tx.
			var state string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM work_requests WHERE id = $1`, ch.Request.ID).Scan(&state); err != nil {
				return err
			}
			if State(state) != ch.Request.State {
				t.Errorf("hook reads state %q in tx, change says %q", state, ch.Request.State)
			}
			seen = append(seen, "first")
			changes = append(changes, ch)
			return nil
		})
		w.s.OnChange(func(ctx context.Context, tx *sql.Tx, ch Change) error {
			seen = append(seen, "second")
			return nil
		})

		r, _ := w.create(t, nil)
		if len(changes) != 1 || changes[0].Request.ID != r.ID || changes[0].Offered != nil || len(seen) != 2 || seen[1] != "second" {
			t.Fatalf("create: %d changes, hooks %v", len(changes), seen)
		}
		refs := w.refer(t, actorA, r.ID, beta)
		if len(changes) != 2 || len(changes[1].Offered) != 1 || changes[1].Offered[0].ID != refs[0].ID || refs[0].ID == 0 {
			t.Fatalf("refer: %+v", changes[len(changes)-1])
		}
		env, err := w.s.EnvelopeFor(ctx, refs[0], w)
		if err != nil {
			t.Fatal(err)
		}
		in := Incoming{To: w.coops[actorB], OfferID: "https://a.example/offers/1", From: alpha, Envelope: env}
		if err := w.s.SetOfferID(ctx, refs[0].ID, in.OfferID); err != nil {
			t.Fatal(err)
		}
		c, err := w.s.ReceiveReferral(ctx, in, w)
		atB := c.Request
		if err != nil || len(changes) != 3 || changes[2].Request.ID != atB.ID || !changes[2].Request.Received() {
			t.Fatalf("receive: %v, %+v", err, changes[len(changes)-1])
		}
		// Received again: nothing new, no hook.
		if _, err := w.s.ReceiveReferral(ctx, in, w); err != nil || len(changes) != 3 {
			t.Fatalf("a resent offer: %v, %d changes", err, len(changes))
		}
		if _, err := w.s.RejectReceived(ctx, w.coops[actorB].CoopID, atB.ID, "too busy"); err != nil {
			t.Fatal(err)
		}
		if a := changes[3].Answered; a == nil || a.State != OfferRejected || a.Reason != "too busy" {
			t.Fatalf("reject: %+v", changes[3])
		}
		ans := Answer{OfferID: changes[3].Answered.OfferID, AnswerID: "https://b.example/activities/1", Actor: actorB, Reason: "too busy"}
		if _, err := w.s.RecordRejected(ctx, ans); err != nil {
			t.Fatal(err)
		}
		if len(changes) != 5 {
			t.Fatalf("record rejected: %d changes", len(changes))
		}
		if _, err := w.s.RecordRejected(ctx, ans); err != nil || len(changes) != 5 {
			t.Fatalf("a resent answer: %v, %d changes", err, len(changes))
		}

		// A hook's error rolls the move back.
		boom := errors.New("boom")
		w.s.hooks = append(w.s.hooks, func(context.Context, *sql.Tx, Change) error { return boom })
		if _, err := w.s.Close(ctx, w.coops[actorA].CoopID, r.ID, ""); !errors.Is(err, boom) {
			t.Fatalf("close with a failing hook: %v", err)
		}
		if got, _ := w.s.RequestByID(ctx, w.coops[actorA].CoopID, r.ID); got.State != StateReferred {
			t.Fatalf("state after a failed hook: %s", got.State)
		}
		if _, _, err := w.s.CreateRequest(ctx, w.coops[actorA], intake()); !errors.Is(err, boom) {
			t.Fatalf("create with a failing hook: %v", err)
		}
		if list, _ := w.s.ListRequests(ctx, w.coops[actorA].CoopID, Filter{Source: FromClients}); len(list) != 1 {
			t.Fatalf("%d requests after a failed create", len(list))
		}
	})
}
