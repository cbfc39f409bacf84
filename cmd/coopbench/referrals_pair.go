package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
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
// seen: a change hook on each node's referrals store signals the step, from
// inside the transaction that makes it, and the bench then waits for that
// transaction's commit (commits, below) before it acts on the step.

// side is one end of a referral: A (alpha) offers, B (beta) accepts.
type side int

const (
	atA side = iota
	atB
)

// refPair is the two running nodes, each over a database of its own.
type refPair struct {
	a, b    *localNode
	track   *tracker
	commits [2]*commits
	stop    func() error
}

// startPair opens the two databases and starts A and B, with the tracker's
// hooks on their referrals stores. pgConns is how many connections the
// commit waits may keep open on PostgreSQL; perHost, when above 0, is the
// nodes' limit of deliveries in flight to one host.
func startPair(ctx context.Context, databaseURL string, pgConns, perHost int) (*refPair, error) {
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
		c, err := newCommits(bdb, pgConns)
		if err != nil {
			return nil, errors.Join(err, p.stop())
		}
		undo = append(undo, c.Close)
		p.commits[s] = c
		hook := p.track.hook(side(s), c)
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
	// lagB and lagA are from each hook's signal to its commit seen.
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

// await waits for the hook's signal of a trip's step at s, then for the
// commit of the transaction it came from.
func (p *refPair) await(ctx context.Context, t *trip, s side, timeout time.Duration) (hookEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev := <-t.events[s]:
		if err := p.commits[s].await(ctx, t.key(s)); err != nil {
			return ev, err
		}
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
	run   int64 // random high bits of this run's lock keys
}

// trip is one referral in flight; each hook signals its step once.
type trip struct {
	idx    int
	events [2]chan hookEvent
	run    int64
}

// hookEvent is a step seen by a hook: when, and the request's id at that node.
type hookEvent struct {
	at        time.Time
	requestID int64
}

func newTracker() *tracker {
	var b [4]byte
	rand.Read(b[:])
	return &tracker{trips: map[string]*trip{}, run: int64(binary.BigEndian.Uint32(b[:])&0x7fffffff) << 32}
}

func (tr *tracker) add(publicID string, idx int) *trip {
	t := &trip{idx: idx, run: tr.run, events: [2]chan hookEvent{make(chan hookEvent, 1), make(chan hookEvent, 1)}}
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

// key is the advisory lock key of the trip's step at s: unique per run,
// trip and side (both schemas share one PostgreSQL database).
func (t *trip) key(s side) int64 { return t.run | int64(t.idx)<<1 | int64(s) }

// hook is the change hook of the store at s. At B it signals a received
// request just stored (state new); at A, a request of ours accepted by the
// peer. It holds the step's lock until its transaction ends.
func (tr *tracker) hook(s side, c *commits) referrals.ChangeHook {
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
		if err := c.hold(ctx, tx, t.key(s)); err != nil {
			return err
		}
		select {
		case t.events[s] <- hookEvent{at: time.Now(), requestID: r.ID}:
		default: // signalled already: a move retried after losing a race
		}
		return nil
	}
}

// commits waits for the commit of a transaction a hook ran in: a hook runs
// before its transaction commits, and what the bench does next (B accepts
// the request it stored) needs the row committed.
//   - SQLite: the node writes through one connection, which the hook's
//     transaction holds until it ends; a transaction of the bench's on that
//     connection begins after it.
//   - PostgreSQL: the hook takes a transaction-level advisory lock on the
//     step's key, released at commit; the bench waits for the same lock, on
//     connections of its own (never the node's pool, which the hook's
//     transaction may need).
type commits struct {
	d  *db.DB
	pg *sql.DB // nil on SQLite
}

func newCommits(b *benchDB, conns int) (*commits, error) {
	c := &commits{d: b.DB}
	if b.DB.Dialect() != db.Postgres {
		return c, nil
	}
	pg, err := sql.Open("pgx", b.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres for the commit waits: %w", err)
	}
	pg.SetMaxOpenConns(conns)
	pg.SetMaxIdleConns(conns)
	c.pg = pg
	return c, nil
}

// hold takes the step's lock in the hook's transaction (PostgreSQL only).
func (c *commits) hold(ctx context.Context, tx *sql.Tx, key int64) error {
	if c.pg == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("coopbench: hold the commit lock: %w", err)
	}
	return nil
}

// await returns once the transaction that signalled the step has ended.
func (c *commits) await(ctx context.Context, key int64) error {
	if c.pg == nil {
		if err := c.d.Tx(ctx, func(*sql.Tx) error { return nil }); err != nil {
			return fmt.Errorf("wait for the commit: %w", err)
		}
		return nil
	}
	tx, err := c.pg.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("wait for the commit: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // releases the lock
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return fmt.Errorf("wait for the commit: %w", err)
	}
	return nil
}

// Close closes the bench's own PostgreSQL connections.
func (c *commits) Close() error {
	if c.pg == nil {
		return nil
	}
	return c.pg.Close()
}
