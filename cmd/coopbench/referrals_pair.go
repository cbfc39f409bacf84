package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/node"
	"github.com/coopnet/coopnet/referrals"
)

// The two nodes of the referral benchmark and how a referral's steps are
// seen: a change hook on each node's referrals store, which runs inside the
// transaction that makes the step, arranges to signal it once that
// transaction has committed (db.DB.AfterCommit): what the bench does next
// (B accepts the request it stored) needs the row committed.

// side is one end of a referral: A (alpha) offers, B (beta) accepts.
type side int

const (
	atA side = iota
	atB
)

// refPair is the two running nodes, each over a database of its own.
type refPair struct {
	a, b  *localNode
	track *tracker
	stop  func() error
}

// startPair opens the two databases and starts A and B, with the tracker's
// hooks on their referrals stores. perHost, when above 0, is the nodes'
// limit of deliveries in flight to one host.
func startPair(ctx context.Context, databaseURL string, perHost int) (*refPair, error) {
	p := &refPair{track: newTracker()}
	var undo []func() error
	p.stop = func() error {
		var err error
		for i := len(undo) - 1; i >= 0; i-- {
			err = errors.Join(err, undo[i]())
		}
		return err
	}
	for s, slug := range []string{"alpha", "beta"} {
		bdb, err := openBenchDB(ctx, databaseURL)
		if err != nil {
			return nil, errors.Join(err, p.stop())
		}
		undo = append(undo, bdb.Close)
		hook := p.track.hook(side(s), bdb.DB)
		var configErr error
		n, err := startNode(ctx, bdb.DB, slug, func(n *node.Node) {
			n.Referrals.OnChange(hook)
			if perHost > 0 {
				configErr = n.Federation.ConfigureDelivery(federation.DeliveryOptions{PerHost: perHost})
			}
		})
		if err != nil {
			return nil, errors.Join(err, p.stop())
		}
		undo = append(undo, n.Stop)
		if configErr != nil {
			return nil, errors.Join(fmt.Errorf("configure delivery: %w", configErr), p.stop())
		}
		if side(s) == atA {
			p.a = n
		} else {
			p.b = n
		}
	}
	return p, nil
}

// dialect names the databases for the report.
func (p *refPair) dialect() string { return string(p.a.DB.Dialect()) }

// tripTimes are one referral's times, from the Refer call at A.
type tripTimes struct {
	oneWay    time.Duration // until B's transaction that stored the request committed
	roundTrip time.Duration // until A's transaction that recorded B's Accept committed
	// lagB and lagA are from each step's commit to the bench seeing it.
	lagB, lagA time.Duration
}

// trip makes one referral: a client's request at A (consenting to it being
// passed on), referred to B, which accepts it as soon as it is stored.
func (p *refPair) trip(ctx context.Context, idx int, timeout time.Duration) (tripTimes, error) {
	local := referrals.Local{CoopID: p.a.Coop.ID, ActorID: p.a.ActorID()}
	req, _, err := p.a.Referrals.CreateRequest(ctx, local, benchIntake(idx))
	if err != nil {
		return tripTimes{}, fmt.Errorf("referral %d: create the request at A: %w", idx, err)
	}
	t := p.track.add(req.PublicID, idx)
	defer p.track.remove(req.PublicID)
	peer := referrals.Peer{ActorID: p.b.ActorID(), Name: p.b.Coop.Name}

	t0 := time.Now()
	if _, err := p.a.Referrals.Refer(ctx, p.a.Coop.ID, req.ID, []referrals.Peer{peer}); err != nil {
		return tripTimes{}, fmt.Errorf("referral %d: refer to B: %w", idx, err)
	}
	stored, err := p.await(ctx, t, atB, timeout)
	if err != nil {
		return tripTimes{}, fmt.Errorf("referral %d: B stores it: %w", idx, err)
	}
	storedSeen := time.Now()
	if _, err := p.b.Referrals.AcceptReceived(ctx, p.b.Coop.ID, stored.requestID); err != nil {
		return tripTimes{}, fmt.Errorf("referral %d: accept at B: %w", idx, err)
	}
	accepted, err := p.await(ctx, t, atA, timeout)
	if err != nil {
		return tripTimes{}, fmt.Errorf("referral %d: A records the Accept: %w", idx, err)
	}
	done := time.Now()
	return tripTimes{oneWay: storedSeen.Sub(t0), roundTrip: done.Sub(t0),
		lagB: storedSeen.Sub(stored.at), lagA: done.Sub(accepted.at)}, nil
}

// await waits for the signal of a trip's step at s, sent once the step's
// transaction has committed.
func (p *refPair) await(ctx context.Context, t *trip, s side, timeout time.Duration) (hookEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev := <-t.events[s]:
		return ev, nil
	case <-ctx.Done():
		return hookEvent{}, ctx.Err()
	case <-timer.C:
		return hookEvent{}, fmt.Errorf("%w after %s", errTimeout, timeout)
	}
}

// benchIntake is a client's request, with consent to refer it.
func benchIntake(idx int) referrals.Intake {
	return referrals.Intake{
		Details: referrals.Details{Organization: "Food Bank",
			Description: fmt.Sprintf("Request %d: we need a new website for our volunteers.", idx),
			Categories:  []string{"web-development"}, Skills: []string{"civicrm"}, Currency: "EUR",
			Deadline: time.Now().AddDate(0, 2, 0).Format(time.DateOnly), Country: "ES", Language: "es",
			ConsentToShare: true},
		Contact: referrals.Contact{Name: "Ann", Email: "ann@foodbank.example", Phone: "+34 600 000 000"},
	}
}

// tracker holds the referrals in flight, by public id, for the hooks.
type tracker struct {
	mu    sync.Mutex
	trips map[string]*trip
}

// trip is one referral in flight; each hook signals its step once.
type trip struct {
	idx    int
	events [2]chan hookEvent
}

// hookEvent is a step committed: when, and the request's id at that node.
type hookEvent struct {
	at        time.Time
	requestID int64
}

func newTracker() *tracker {
	return &tracker{trips: map[string]*trip{}}
}

func (tr *tracker) add(publicID string, idx int) *trip {
	t := &trip{idx: idx, events: [2]chan hookEvent{make(chan hookEvent, 1), make(chan hookEvent, 1)}}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.trips[publicID] = t
	return t
}

func (tr *tracker) remove(publicID string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	delete(tr.trips, publicID)
}

func (tr *tracker) get(publicID string) *trip {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.trips[publicID]
}

// hook is the change hook of the store of d at s. At B it signals a
// received request just stored (state new); at A, a request of ours
// accepted by the peer. The signal goes once the transaction has committed.
func (tr *tracker) hook(s side, d *db.DB) referrals.ChangeHook {
	return func(ctx context.Context, tx *sql.Tx, ch referrals.Change) error {
		r := ch.Request
		if s == atB && (!r.Received() || r.State != referrals.StateNew) ||
			s == atA && (r.Received() || r.State != referrals.StateAccepted) {
			return nil
		}
		t := tr.get(r.PublicID)
		if t == nil {
			return nil
		}
		id := r.ID
		ok := d.AfterCommit(tx, func() {
			select {
			case t.events[s] <- hookEvent{at: time.Now(), requestID: id}:
			default: // signalled already: a move retried after losing a race
			}
		})
		if !ok {
			return errors.New("coopbench: a referral changed outside db.DB.Tx")
		}
		return nil
	}
}
