package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// Every referral crosses the delivery queue (River) three times: A's
// "referral-offer" job builds the Offer, A's "deliver" job posts it, and B's
// "deliver" job posts the Accept. A job waits from its insert until a fetch
// finds it: River's jobs keep created_at and attempted_at, so the waits are
// read from river_job once the run is over.

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

// queueWaits reads the waits of the jobs after the ids in after.
func (p *refPair) queueWaits(ctx context.Context, after [2]int64) ([]queueWait, error) {
	var out []queueWait
	for s, n := range []*localNode{p.a, p.b} {
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
				w = &queueWait{node: "AB"[s : s+1], kind: kind}
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
			out = append(out, *byKind[k])
		}
	}
	return out, nil
}

// reportQueueWaits prints the waits of each kind of job, and their share of
// the mean round trip: every job of the run belongs to one of its n
// referrals, so the waits' sum over n is the mean time a referral spent
// queued.
func reportQueueWaits(out io.Writer, waits []queueWait, n int, roundTrip time.Duration) {
	fmt.Fprintln(out, "queue waits, from a job's insert to its fetch (river_job.attempted_at - created_at):")
	var sum time.Duration
	for _, w := range waits {
		for _, d := range w.waits {
			sum += d
		}
		fmt.Fprintf(out, "  %s %s: %d jobs, p50 %s, p90 %s, p99 %s, max %s, mean %s; %d retried\n", w.node, w.kind,
			len(w.waits), ms(percentile(w.waits, 50)), ms(percentile(w.waits, 90)), ms(percentile(w.waits, 99)),
			ms(w.waits[len(w.waits)-1]), ms(mean(w.waits)), w.retried)
	}
	queued := sum / time.Duration(n)
	fmt.Fprintf(out, "queued per referral: %s of the mean round trip's %s (%.0f%%); the rest, %s, is out of the queue: the work, and waiting for CPU, connections or the SQLite writer\n",
		ms(queued), ms(roundTrip), 100*float64(queued)/float64(roundTrip), ms(roundTrip-queued))
}
