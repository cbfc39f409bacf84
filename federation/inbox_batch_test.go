package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

var errBatchTest = errors.New("federation: test effect failed")

// markEffect writes a marker row (an inbox_seen row named after the
// activity), then fails when fail says so: a failure after a write, which
// must leave no trace.
func markEffect(fail func(in incoming) bool) inboxEffect {
	return func(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
		if _, err := directory.TxExec(ctx, tx, `INSERT INTO inbox_seen (activity_id, actor_id, received_at) VALUES ($1, $2, $3)`,
			in.ID+"#effect", in.Actor.ID, db.Now()); err != nil {
			return nil, err
		}
		if fail != nil && fail(in) {
			return nil, errBatchTest
		}
		return nil, nil
	}
}

type batchCall struct {
	in     incoming
	effect inboxEffect
}

// applyInOneBatch submits every call while the batch writer is held back,
// so that they all make one batch, then lets it write and returns each
// call's error.
func applyInOneBatch(t *testing.T, b *inboxBatcher, calls []batchCall) []error {
	t.Helper()
	if len(calls) > b.max {
		t.Fatalf("%d calls do not fit in one batch of %d", len(calls), b.max)
	}
	b.direct = false // batches on PostgreSQL too, where they are not the default
	b.mu.Lock()
	b.running = true // the writer is "busy": calls queue up
	b.mu.Unlock()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.apply(context.Background(), c.in, c.effect)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n == len(calls) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls queued", n, len(calls))
		}
		time.Sleep(time.Millisecond)
	}
	go b.run()
	wg.Wait()
	return errs
}

func batchIn(i int) incoming {
	actor := "https://peer.example/coops/p"
	return incoming{ID: fmt.Sprintf("https://peer.example/activities/%d", i), Type: "Update", Actor: RemoteActor{ID: actor}}
}

// One activity whose effect fails (after writing) in a batch: the others of
// the batch are applied and answered nil; it alone fails, and nothing of it
// is kept, not even its inbox_seen record (the sender's retry applies it).
func TestInboxBatchFailureIsolation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		b := newInboxBatcher(n.f)
		const total, bad = 20, 7
		calls := make([]batchCall, total)
		for i := range calls {
			calls[i] = batchCall{in: batchIn(i), effect: markEffect(func(in incoming) bool { return in.ID == batchIn(bad).ID })}
		}
		errs := applyInOneBatch(t, b, calls)
		for i, err := range errs {
			if i == bad && !errors.Is(err, errBatchTest) {
				t.Errorf("bad activity: %v, want its effect's error", err)
			}
			if i != bad && err != nil {
				t.Errorf("activity %d: %v", i, err)
			}
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE 'https://peer.example/%'`); c != 2*(total-1) {
			t.Errorf("%d rows, want %d (each good activity and its effect)", c, 2*(total-1))
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE $1`, batchIn(bad).ID+"%"); c != 0 {
			t.Errorf("the failed activity left %d rows", c)
		}
		// Its retry is applied.
		if _, err := b.apply(context.Background(), batchIn(bad), markEffect(nil)); err != nil {
			t.Fatal(err)
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE $1`, batchIn(bad).ID+"%"); c != 2 {
			t.Errorf("the retry left %d rows, want 2", c)
		}
	})
}

// When the batch's transaction itself fails (here an effect ends it), every
// member is applied again on its own: only the bad one fails.
func TestInboxBatchFailedTransactionRetriesOneByOne(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		b := newInboxBatcher(n.f)
		const total, bad = 10, 4
		good := markEffect(nil)
		calls := make([]batchCall, total)
		for i := range calls {
			calls[i] = batchCall{in: batchIn(i), effect: good}
		}
		calls[bad].effect = func(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
			if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
				return nil, err
			}
			return nil, errBatchTest
		}
		errs := applyInOneBatch(t, b, calls)
		for i, err := range errs {
			if i == bad && err == nil {
				t.Error("bad activity applied")
			}
			if i != bad && err != nil {
				t.Errorf("activity %d: %v", i, err)
			}
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE 'https://peer.example/%'`); c != 2*(total-1) {
			t.Errorf("%d rows, want %d", c, 2*(total-1))
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE $1`, batchIn(bad).ID+"%"); c != 0 {
			t.Errorf("the failed activity left %d rows", c)
		}
	})
}

// Copies of one activity in one batch (a sender retrying while the first
// copy waits) are applied once, and every copy is answered as recorded.
func TestInboxBatchDuplicatesAppliedOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		b := newInboxBatcher(n.f)
		var applied atomic.Int64
		effect := func(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
			applied.Add(1)
			return markEffect(nil)(ctx, tx, in)
		}
		var calls []batchCall
		for i := range 3 {
			for range 5 {
				calls = append(calls, batchCall{in: batchIn(i), effect: effect})
			}
		}
		for i, err := range applyInOneBatch(t, b, calls) {
			if err != nil {
				t.Errorf("copy %d: %v", i, err)
			}
		}
		if got := applied.Load(); got != 3 {
			t.Errorf("effects run %d times, want 3", got)
		}
		if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id LIKE 'https://peer.example/%'`); c != 6 {
			t.Errorf("%d rows, want 6", c)
		}
		// And a copy arriving in a later batch is not applied again.
		if _, err := b.apply(context.Background(), batchIn(0), effect); err != nil {
			t.Fatal(err)
		}
		if got := applied.Load(); got != 3 {
			t.Errorf("effects run %d times after a resend, want 3", got)
		}
	})
}

// Effects that leave work for after the commit get it back, in a batch.
func TestInboxBatchLater(t *testing.T) {
	d := testdb.SQLite(t)
	n := newInNode(t, d)
	b := newInboxBatcher(n.f)
	var calls []batchCall
	for i := range 4 {
		calls = append(calls, batchCall{in: batchIn(i), effect: func(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
			return func(context.Context) {}, nil
		}})
	}
	for _, err := range applyInOneBatch(t, b, calls) {
		if err != nil {
			t.Fatal(err)
		}
	}
	l, err := b.apply(context.Background(), batchIn(9), calls[0].effect)
	if err != nil || l == nil {
		t.Fatalf("later %v, err %v", l != nil, err)
	}
}

// Through the inbox: activities posted at once by several peers are all
// answered 202 and applied, a refused one among them answered 403 without
// its neighbours suffering, and the copies of one activity applied once.
func TestInboxConcurrentPostsBatched(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newInNode(t, d)
		ctx := context.Background()
		peers := make([]*fakePeer, 3)
		docs := make([]map[string]any, len(peers))
		for i := range peers {
			p := newFakePeer(t, fmt.Sprintf("batch%d", i), peerKey(t))
			if err := n.f.Follow(ctx, n.coop.ID, p.handle()); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Exec(ctx, `UPDATE following SET state = 'accepted'`); err != nil {
				t.Fatal(err)
			}
			if err := n.f.RefreshPeer(ctx, p.actorID()); err != nil {
				t.Fatal(err)
			}
			peers[i], docs[i] = p, p.actorDoc()
		}
		type post struct {
			p    *fakePeer
			act  map[string]any
			want int
		}
		var posts []post
		for i, p := range peers {
			docs[i]["name"] = fmt.Sprintf("Batched %d", i)
			upd := p.activity("Update", docs[i])
			for range 3 { // the same activity, three times at once
				posts = append(posts, post{p, upd, 202})
			}
		}
		// Refused: an Update of an object on another host.
		posts = append(posts, post{peers[0], peers[0].activity("Update", map[string]any{
			"id": "https://elsewhere.example/services/1", "type": "Service", "name": "Not yours"}), 403})
		var wg sync.WaitGroup
		got := make([]int, len(posts))
		for i, ps := range posts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = ps.p.post(t, n, "/inbox", ps.act, sendOpts{})
			}()
		}
		wg.Wait()
		for i, ps := range posts {
			if got[i] != ps.want {
				t.Errorf("post %d (%s): status %d, want %d", i, ps.act["type"], got[i], ps.want)
			}
		}
		if c := n.count(t, `SELECT COUNT(*) FROM coops WHERE name LIKE 'Batched %'`); c != len(peers) {
			t.Errorf("%d coops updated, want %d", c, len(peers))
		}
		for _, ps := range posts {
			want := 1
			if ps.want != 202 {
				want = 0
			}
			if c := n.count(t, `SELECT COUNT(*) FROM inbox_seen WHERE activity_id = $1`, ps.act["id"]); c != want {
				t.Errorf("%s recorded %d times, want %d", ps.act["id"], c, want)
			}
		}
	})
}
