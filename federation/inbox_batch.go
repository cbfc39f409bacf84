package federation

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

// Group commit. Every inbox request verifies and parses its activity on its
// own goroutine, then hands the effect (already translated, see
// goFedProtocol.apply) to the batcher and waits. The batcher applies the
// effects waiting at that moment, up to maxInboxBatch, in one transaction:
// each with its inbox_seen record, inside a savepoint of its own. Then it
// commits once and answers every waiter. So:
//   - an activity is answered only once its transaction has committed
//     (durable: the 202 keeps its meaning);
//   - an effect that fails is rolled back to its savepoint, alone: the
//     others of its batch are applied, and it is answered with its error;
//   - when the batch transaction itself fails (its commit, a savepoint, an
//     error that aborts the whole transaction), every member is applied
//     again on its own, in a transaction of its own, so that only the bad
//     one fails;
//   - a resent id is applied once, whether the copies land in one batch
//     (the second finds the first's inbox_seen row in the same
//     transaction) or in two (or two processes: the insert decides).
//
// There is no timer: while one batch is being written, the requests that
// arrive queue up and make the next one, so a lone request is written at
// once and a busy inbox writes large batches. The batch writer is a
// goroutine started when work arrives and ended when none is left.
//
// This is for SQLite, whose writes are serial anyway (one connection): it
// saves a commit per activity, and the statements are prepared once for
// the process (directory.PreparedStatements) where modernc's driver would
// parse each query on each call, which cost more than running it. On
// PostgreSQL each activity keeps its own transaction (see newInboxBatcher).
//
// The inbox's reads are bounded too (readSlots, below).

// maxInboxBatch is the most activities applied in one transaction.
const maxInboxBatch = 128

// inboxEffect is the effect of one activity, run in the batch's transaction.
type inboxEffect func(context.Context, *sql.Tx, incoming) (later, error)

// batchItem is one activity waiting for its batch.
type batchItem struct {
	ctx    context.Context // the request's, without its cancellation
	in     incoming
	effect inboxEffect
	done   chan batchResult
}

// batchResult is what became of one activity: recorded (applied now or
// before) with the work its effect left for after the commit, or an error.
type batchResult struct {
	later later
	err   error
}

// inboxBatcher writes the inbox's effects in batches.
type inboxBatcher struct {
	f       *Federation
	stmts   *directory.PreparedStatements // SQLite only (nil on PostgreSQL)
	direct  bool                          // no batches: each in its own transaction
	max     int
	mu      sync.Mutex
	pending []*batchItem
	running bool
}

func newInboxBatcher(f *Federation) *inboxBatcher {
	b := &inboxBatcher{f: f, max: maxInboxBatch}
	if f.db.Dialect() == db.SQLite {
		// pgx keeps its own cache of prepared statements per
		// connection; preparing here would only add round trips.
		b.stmts = directory.NewPreparedStatements(f.db.WriteSQL())
	} else {
		// PostgreSQL runs many writers at once and commits those waiting
		// together on its own, while one batch writer waits on a round
		// trip per statement, one activity after the other: measured
		// twice as slow with 16 senders. Each activity keeps its own
		// transaction there.
		b.direct = true
	}
	return b
}

// txStatements returns the statements the effects run in tx with, and the
// function to call once tx has ended.
func (b *inboxBatcher) txStatements(tx *sql.Tx) (*directory.TxStatements, func()) {
	if b.stmts == nil {
		return nil, func() {}
	}
	s := b.stmts.Tx(tx)
	return s, func() { b.stmts.Learn(context.Background(), s) }
}

func withStatements(ctx context.Context, s *directory.TxStatements) context.Context {
	if s == nil {
		return ctx
	}
	return directory.WithTxStatements(ctx, s)
}

// apply records the activity as seen and applies its effect, in a batch,
// and returns once that is committed (or has failed).
func (b *inboxBatcher) apply(ctx context.Context, in incoming, effect inboxEffect) (later, error) {
	item := &batchItem{ctx: context.WithoutCancel(ctx), in: in, effect: effect, done: make(chan batchResult, 1)}
	if b.direct {
		return b.writeOne(item)
	}
	b.mu.Lock()
	b.pending = append(b.pending, item)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()
	// Not abandoned when the request is cancelled: the batch may be
	// writing it, and it answers soon either way.
	res := <-item.done
	return res.later, res.err
}

// run writes batches until nothing is waiting.
func (b *inboxBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.max)
		if n == 0 {
			b.running = false
			b.pending = nil
			b.mu.Unlock()
			return
		}
		batch := make([]*batchItem, n)
		copy(batch, b.pending)
		b.pending = b.pending[n:]
		b.mu.Unlock()
		b.write(batch)
	}
}

// write applies one batch and answers its members.
func (b *inboxBatcher) write(batch []*batchItem) {
	if len(batch) == 1 {
		it := batch[0]
		l, err := b.writeOne(it)
		it.done <- batchResult{later: l, err: err}
		return
	}
	results := make([]batchResult, len(batch))
	learn := func() {}
	err := b.f.db.Tx(context.Background(), func(tx *sql.Tx) error {
		var stmts *directory.TxStatements
		stmts, learn = b.txStatements(tx)
		for i, it := range batch {
			ctx := withStatements(it.ctx, stmts)
			mark := b.f.db.AfterCommitMark(tx)
			if _, err := directory.TxExec(ctx, tx, `SAVEPOINT inbox_item`); err != nil {
				return fmt.Errorf("federation: savepoint: %w", err)
			}
			l, err := b.effect(ctx, tx, it)
			if err != nil {
				if _, rerr := directory.TxExec(ctx, tx, `ROLLBACK TO SAVEPOINT inbox_item`); rerr != nil {
					return fmt.Errorf("federation: rollback to savepoint: %w (after %w)", rerr, err)
				}
				// What the effect queued to run at commit (a delivery of a
				// job now undone) must not run with the others.
				b.f.db.DropAfterCommit(tx, mark)
				l = nil
			}
			if _, rerr := directory.TxExec(ctx, tx, `RELEASE SAVEPOINT inbox_item`); rerr != nil {
				return fmt.Errorf("federation: release savepoint: %w", rerr)
			}
			results[i] = batchResult{later: l, err: err}
		}
		return nil
	})
	learn()
	if err != nil {
		// Nothing of the batch is written: each member on its own.
		b.f.log.Warn("inbox batch failed, applying its activities one by one", "activities", len(batch), "error", err)
		for _, it := range batch {
			l, err := b.writeOne(it)
			it.done <- batchResult{later: l, err: err}
		}
		return
	}
	for i, it := range batch {
		it.done <- results[i]
	}
}

// writeOne applies one activity in a transaction of its own.
func (b *inboxBatcher) writeOne(it *batchItem) (later, error) {
	var l later
	learn := func() {}
	err := b.f.db.Tx(it.ctx, func(tx *sql.Tx) error {
		var stmts *directory.TxStatements
		stmts, learn = b.txStatements(tx)
		var err error
		l, err = b.effect(withStatements(it.ctx, stmts), tx, it)
		return err
	})
	learn()
	if err != nil {
		return nil, err
	}
	return l, nil
}

// effect records the activity in inbox_seen and, unless it was there
// already, runs its effect.
func (b *inboxBatcher) effect(ctx context.Context, tx *sql.Tx, it *batchItem) (l later, err error) {
	defer func() {
		if r := recover(); r != nil { // one bad activity must not take the batch (and the process) down
			l, err = nil, fmt.Errorf("federation: effect of %s panicked: %v", it.in.ID, r)
		}
	}()
	res, err := directory.TxExec(ctx, tx, `INSERT INTO inbox_seen (activity_id, actor_id, received_at) VALUES ($1, $2, $3)
			ON CONFLICT (activity_id) DO NOTHING`, it.in.ID, it.in.Actor.ID, db.Now())
	if err != nil {
		return nil, fmt.Errorf("federation: record activity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, nil
	}
	return it.effect(ctx, tx, it.in)
}

// readSlots bounds how many of the inbox's reads run at once. The SQLite
// read pool keeps two idle connections (database/sql's default): with
// sixteen senders reading at once, the connections beyond two were closed
// after each read and opened again for the next, and opening one reads the
// whole schema, which cost more than the reads themselves. Two slots keep
// the inbox's reads on warm connections; on a 2-core machine more would not
// run any faster anyway. A nil readSlots does not limit.
type readSlots chan struct{}

const inboxReadSlots = 2

func newReadSlots(f *Federation, n int) readSlots {
	if f.db.Dialect() != db.SQLite {
		return nil // PostgreSQL's reads wait on the network: no limit
	}
	return make(readSlots, n)
}

// acquire takes a slot and returns its release. When ctx ends first, the
// read goes ahead without one (and fails on its ended context).
func (s readSlots) acquire(ctx context.Context) func() {
	if s == nil {
		return func() {}
	}
	select {
	case s <- struct{}{}:
		return func() { <-s }
	case <-ctx.Done():
		return func() {}
	}
}
