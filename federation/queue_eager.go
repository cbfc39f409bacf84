package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Jobs that a transaction queues for a handful of peers (a referral's Offer,
// its answer, a follow's Accept) also run in this process the moment the
// transaction commits, instead of waiting for River to find them. River
// finds new jobs by polling (riverdatabasesql has no LISTEN connection, and
// riversqlite polls its notification table), 50 ms or more each time, and a
// referral crosses the queue three times on its way there and back.
//
// The job row is still inserted in the transaction: it is the durable record.
// It is scheduled eagerGrace ahead, so that River leaves it alone meanwhile.
// When the run here succeeds the row is deleted; when it fails, or the
// process stops or dies first, River runs the job at that time with its
// usual retries and records what went wrong for the admin view. A delivery
// that both make (a run here slower than the grace, or a death between the
// POST and the delete) reaches the peer twice, and receivers drop the second
// by its activity id.
//
// Large fan-outs (a profile update to every follower) go through River as
// before: nobody waits on them, and River paces them.

// eagerWork runs one job row as its River worker would.
type eagerWork func(ctx context.Context, row *rivertype.JobRow) error

// eagerKind adapts a River worker to run a job row outside River.
func eagerKind[T river.JobArgs](w river.Worker[T]) eagerWork {
	return func(ctx context.Context, row *rivertype.JobRow) error {
		var args T
		if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
			return fmt.Errorf("federation: decode %s job %d: %w", row.Kind, row.ID, err)
		}
		return w.Work(ctx, &river.Job[T]{JobRow: row, Args: args})
	}
}

// eagerRunner runs committed jobs in this process.
type eagerRunner struct {
	q     *queue
	kinds map[string]eagerWork
	slots chan struct{}

	mu     sync.Mutex
	ctx    context.Context // nil when not running
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newEagerRunner(q *queue, kinds map[string]eagerWork) *eagerRunner {
	return &eagerRunner{q: q, kinds: kinds, slots: make(chan struct{}, q.set.workers)}
}

// start lets committed jobs run here until stop.
func (e *eagerRunner) start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ctx, e.cancel = context.WithCancel(context.Background())
}

// stop cancels the runs in flight and waits for them: their jobs go back to
// River at once.
func (e *eagerRunner) stop() {
	e.mu.Lock()
	if e.cancel != nil {
		e.cancel()
	}
	e.ctx, e.cancel = nil, nil
	e.mu.Unlock()
	e.wg.Wait()
}

// context is the runner's context and true while it runs; it counts a run
// in e.wg, which the caller must end with e.wg.Done.
func (e *eagerRunner) context() (context.Context, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx == nil {
		return nil, false
	}
	e.wg.Add(1)
	return e.ctx, true
}

// accepts reports whether the jobs of params may run here: the queue runs,
// they are few, and each is of a kind the runner knows.
func (e *eagerRunner) accepts(params []river.InsertManyParams) bool {
	if len(params) == 0 || len(params) > e.q.set.eagerMax {
		return false
	}
	e.mu.Lock()
	running := e.ctx != nil
	e.mu.Unlock()
	if !running {
		return false
	}
	for _, p := range params {
		if e.kinds[p.Args.Kind()] == nil {
			return false
		}
	}
	return true
}

// run starts the committed jobs. It never blocks the committing goroutine:
// a job that finds no free slot is made available to River at once.
func (e *eagerRunner) run(rows []*rivertype.JobRow) {
	ctx, ok := e.context()
	if !ok {
		return // stopping: River runs them after the grace
	}
	defer e.wg.Done()
	for _, row := range rows {
		select {
		case e.slots <- struct{}{}:
		default:
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				if _, err := e.q.client.JobRetry(ctx, row.ID); err != nil && ctx.Err() == nil {
					e.q.f.log.Warn("queue: could not hand a job to the queue", "job", row.ID, "kind", row.Kind, "error", err)
				}
			}()
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() { <-e.slots }()
			e.work(ctx, row)
		}()
	}
}

func (e *eagerRunner) work(ctx context.Context, row *rivertype.JobRow) {
	runCtx, cancel := context.WithTimeout(ctx, min(e.q.set.jobTimeout, e.q.set.eagerGrace/2))
	err := e.kinds[row.Kind](runCtx, row)
	cancel()
	var final *river.JobCancelError
	var snooze *river.JobSnoozeError
	switch {
	case err == nil:
		_, err = e.q.client.JobDelete(ctx, row.ID)
		if err != nil && !errors.Is(err, river.ErrNotFound) && !errors.Is(err, rivertype.ErrJobRunning) && ctx.Err() == nil {
			e.q.f.log.Warn("queue: could not delete a job done", "job", row.ID, "kind", row.Kind, "error", err)
		}
	case ctx.Err() != nil, errors.As(err, &final), errors.As(err, &snooze):
		// Stopping: the next process to start (or another one sharing the
		// database) takes the job at once. A final refusal: River runs it
		// now, meets the same refusal and records it for the admin view.
		// Held back (the host's slots busy, the peer backed off): River
		// runs it now and holds it back for as long as its worker says.
		releaseCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.q.client.JobRetry(releaseCtx, row.ID); err != nil {
			e.q.f.log.Warn("queue: could not hand a job to the queue", "job", row.ID, "kind", row.Kind, "error", err)
		}
	default:
		// Failed: River retries after the grace, which serves as the first
		// step of the retry schedule. The worker logged why.
	}
}

// insertTx queues jobs inside tx: run here once tx commits when the runner
// accepts them, left to River otherwise.
func (q *queue) insertTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) error {
	var inserted []*rivertype.JobInsertResult
	eager := q.eager.accepts(params) && q.f.db.AfterCommit(tx, func() {
		rows := make([]*rivertype.JobRow, 0, len(inserted))
		for _, r := range inserted {
			if r.Job != nil && !r.UniqueSkippedAsDuplicate {
				rows = append(rows, r.Job)
			}
		}
		q.eager.run(rows)
	})
	if eager {
		at := time.Now().Add(q.set.eagerGrace)
		for i := range params {
			var opts river.InsertOpts
			if params[i].InsertOpts != nil {
				opts = *params[i].InsertOpts
			}
			opts.ScheduledAt = at
			params[i].InsertOpts = &opts
		}
	}
	res, err := q.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return err
	}
	inserted = res
	return nil
}
