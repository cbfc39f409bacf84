package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// Every referral makes three jobs: A's "referral-offer" builds the Offer,
// A's "deliver" posts it, and B's "deliver" posts the Accept. Each runs in
// the process that queued it as soon as the transaction commits, and its
// row is deleted when it succeeds; a job that failed there, or found no
// free worker, is left to River's fetch loop. River's rows keep created_at
// and attempted_at, so what was left is read from river_job once the run is
// over, with how long each waited for its fetch. (A job done at commit
// leaves no row; one River ran stays an hour as completed.)

// lastJobIDs returns the highest job id in each node's queue.
func (p *refPair) lastJobIDs(ctx context.Context) ([2]int64, error) {
	var ids [2]int64
	for s, n := range []*localNode{p.a, p.b} {
		if err := n.DB.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM river_job`).Scan(&ids[s]); err != nil {
			return ids, fmt.Errorf("read river_job: %w", err)
		}
	}
	return ids, nil
}

// queueWait is the waits of one kind of job at one node.
type queueWait struct {
	node, kind string
	waits      []time.Duration // sorted
	retried    int             // jobs attempted more than once
}

// queueUse is the jobs a node's River ran in the run, by kind.
type queueUse struct {
	node string
	left []queueWait
}

// queueUses reads each node's jobs after the ids in after.
func (p *refPair) queueUses(ctx context.Context, after [2]int64) ([]queueUse, error) {
	var out []queueUse
	for s, n := range []*localNode{p.a, p.b} {
		use := queueUse{node: "AB"[s : s+1]}
		// Seconds from created_at to attempted_at, in each dialect's terms.
		wait := `EXTRACT(EPOCH FROM attempted_at - created_at)`
		if n.DB.Dialect() == db.SQLite {
			wait = `(julianday(attempted_at) - julianday(created_at)) * 86400`
		}
		rows, err := n.DB.Query(ctx, `SELECT kind, `+wait+`, attempt FROM river_job
			WHERE id > $1 AND attempted_at IS NOT NULL ORDER BY id`, after[s])
		if err != nil {
			return nil, fmt.Errorf("read river_job: %w", err)
		}
		byKind := map[string]*queueWait{}
		var kinds []string
		for rows.Next() {
			var kind string
			var secs float64
			var attempt int
			if err := rows.Scan(&kind, &secs, &attempt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read river_job: %w", err)
			}
			w := byKind[kind]
			if w == nil {
				w = &queueWait{node: use.node, kind: kind}
				byKind[kind] = w
				kinds = append(kinds, kind)
			}
			w.waits = append(w.waits, time.Duration(secs*float64(time.Second)))
			if attempt > 1 {
				w.retried++
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("read river_job: %w", err)
		}
		for _, k := range kinds {
			slices.Sort(byKind[k].waits)
			use.left = append(use.left, *byKind[k])
		}
		out = append(out, use)
	}
	return out, nil
}

// reportQueueUses prints, for each node, how many of the n referrals' 3n
// jobs River ran, with their waits and the waits' share of the mean round
// trip: every job of the run belongs to one of the n referrals, so the
// waits' sum over n is the mean time a referral spent queued.
func reportQueueUses(out io.Writer, uses []queueUse, n int, roundTrip time.Duration) {
	fmt.Fprintf(out, "queue: of the %d jobs (A: an offer and its delivery, B: the Accept's delivery, per referral), those not run at commit but left to River, with their wait from insert to fetch (river_job.attempted_at - created_at):\n", 3*n)
	var sum time.Duration
	for _, u := range uses {
		left := 0
		for _, w := range u.left {
			left += len(w.waits)
		}
		fmt.Fprintf(out, "  %s: %d left to River\n", u.node, left)
		for _, w := range u.left {
			for _, d := range w.waits {
				sum += d
			}
			fmt.Fprintf(out, "    %s: %d jobs, p50 %s, p90 %s, p99 %s, max %s, mean %s; %d retried\n", w.kind,
				len(w.waits), ms(percentile(w.waits, 50)), ms(percentile(w.waits, 90)), ms(percentile(w.waits, 99)),
				ms(w.waits[len(w.waits)-1]), ms(mean(w.waits)), w.retried)
		}
	}
	queued := sum / time.Duration(n)
	fmt.Fprintf(out, "queued per referral: %s of the mean round trip's %s (%.0f%%); the rest, %s, is out of the queue: the work, and waiting for CPU, connections or the SQLite writer\n",
		ms(queued), ms(roundTrip), 100*float64(queued)/float64(roundTrip), ms(roundTrip-queued))
}
