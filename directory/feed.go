package directory

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// The change feed. Every write that changes what a directory shows of a coop
// adds a row to directory_changes in its own transaction (recordChange), so
// the row commits with the change or not at all. Each process's Directory
// reads the rows after the last one it saw and reloads those coops. The
// feed, not a message between goroutines, is what keeps several processes
// sharing one PostgreSQL current; the wake-up below only saves this
// process the wait for its timer.

// recordChange notes, inside tx, that what a directory shows of the coop
// changed. It runs in the inbox's batches, so it goes through TxExec: one
// small statement, prepared once.
func recordChange(ctx context.Context, tx *sql.Tx, coopID int64) error {
	if _, err := TxExec(ctx, tx, `INSERT INTO directory_changes (coop_id, changed_at) VALUES ($1, $2)`,
		coopID, db.Now()); err != nil {
		return fmt.Errorf("directory: record change: %w", err)
	}
	return nil
}

// wake tells this process's Directory that a change was recorded. It never
// blocks: one pending wake-up is as good as many.
func (s *Store) wake() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// writeTx runs fn in a write transaction and, once it has committed, wakes
// the Directory: for the store's own writes that record changes.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.db.Tx(ctx, fn); err != nil {
		return err
	}
	s.wake()
	return nil
}

// SetUnreachable records that refetching the peer's coop coopID has failed
// since that time, or with since nil, that it answers again. A time already
// recorded is kept: the first failure is the one that counts. It returns
// ErrNotFound for an unknown coop or one hosted here.
func (s *Store) SetUnreachable(ctx context.Context, coopID int64, since *time.Time) error {
	query, args := `UPDATE coops SET unreachable_since = NULL WHERE id = $1 AND domain <> ''`, []any{coopID}
	if since != nil {
		query = `UPDATE coops SET unreachable_since = COALESCE(unreachable_since, $2) WHERE id = $1 AND domain <> ''`
		args = append(args, since.UTC().Truncate(time.Microsecond))
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("directory: set unreachable: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return recordChange(ctx, tx, coopID)
	})
}

// StaleRemoteCoops returns at most limit of the peers' coops last fetched
// before fetchedBefore (or never), the oldest first: those to refetch.
func (s *Store) StaleRemoteCoops(ctx context.Context, fetchedBefore time.Time, limit int) ([]KnownCoop, error) {
	if limit <= 0 {
		return []KnownCoop{}, nil
	}
	rows, err := s.db.Query(ctx, `SELECT `+knownCoopColumns+` FROM coops c
		WHERE c.domain <> '' AND (c.fetched_at IS NULL OR c.fetched_at < $1)
		ORDER BY c.fetched_at NULLS FIRST, c.id LIMIT $2`, fetchedBefore.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("directory: list stale remote coops: %w", err)
	}
	return scanKnownCoops(rows)
}

// Reading the feed.
const (
	// feedBatch is the most rows one read of the feed returns.
	feedBatch = 5000
	// gapTimeout is how long a missing seq is waited for. PostgreSQL hands
	// out seqs before commit, so a lower one can become visible after a
	// higher one; a rolled-back transaction's seq never does.
	gapTimeout = 10 * time.Second
	// startWindow is how many seqs below the highest one at start are
	// checked for gaps: transactions still open then hold seqs close to it.
	startWindow = 1000
	// maxGaps bounds the seqs waited for; the oldest are given up first.
	maxGaps = 10000
	// keepChanges is how long rows stay in the feed, and pruneEvery how
	// often a process deletes older ones.
	keepChanges = 24 * time.Hour
	pruneEvery  = time.Minute
)

// change is one row of the feed.
type change struct {
	seq, coopID int64
}

// feedCursor is how far a Directory has read the feed: every seq up to last
// has been read, except the gaps, which are waited for until gapTimeout.
type feedCursor struct {
	last       int64
	gaps       map[int64]time.Time // a missing seq and when it was first missed
	gapTimeout time.Duration
}

// feedRead is one read of the feed, applied with advance once the coops it
// names are reloaded.
type feedRead struct {
	filled []change // gaps that are now visible
	next   []change // rows after last, by seq
}

func (r feedRead) empty() bool { return len(r.filled) == 0 && len(r.next) == 0 }

// coopIDs returns the coops the read names, each once.
func (r feedRead) coopIDs() []int64 {
	ids := make([]int64, 0, len(r.filled)+len(r.next))
	for _, chs := range [][]change{r.filled, r.next} {
		for _, ch := range chs {
			ids = append(ids, ch.coopID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// start places the cursor at the end of the feed, before the directory is
// loaded: a change committed meanwhile is read again, which is harmless.
// On PostgreSQL the seqs missing just below the end are gaps: transactions
// still open (or rows pruned, given up after gapTimeout).
func (c *feedCursor) start(ctx context.Context, d *db.DB, now time.Time) error {
	c.gaps = map[int64]time.Time{}
	if c.gapTimeout == 0 {
		c.gapTimeout = gapTimeout
	}
	if err := d.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM directory_changes`).Scan(&c.last); err != nil {
		return fmt.Errorf("directory: read the change feed: %w", err)
	}
	if d.Dialect() == db.SQLite {
		// One writer at a time: a seq is visible before the next is taken.
		return nil
	}
	from := max(c.last-startWindow, 0)
	rows, err := d.Query(ctx, `SELECT seq FROM directory_changes WHERE seq > $1 AND seq <= $2`, from, c.last)
	if err != nil {
		return fmt.Errorf("directory: read the change feed: %w", err)
	}
	defer rows.Close()
	seen := map[int64]bool{}
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("directory: read the change feed: %w", err)
		}
		seen[seq] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("directory: read the change feed: %w", err)
	}
	for seq := from + 1; seq < c.last; seq++ {
		if !seen[seq] {
			c.gaps[seq] = now
		}
	}
	return nil
}

// read returns the gaps now visible and the rows after last, without moving
// the cursor.
func (c *feedCursor) read(ctx context.Context, d *db.DB) (feedRead, error) {
	var r feedRead
	gaps := make([]int64, 0, len(c.gaps))
	for seq := range c.gaps {
		gaps = append(gaps, seq)
	}
	slices.Sort(gaps)
	for chunk := range slices.Chunk(gaps, 500) {
		rows, err := d.Query(ctx, `SELECT seq, coop_id FROM directory_changes WHERE seq IN (`+placeholders(1, len(chunk))+`)`,
			int64Args(chunk)...)
		if err != nil {
			return feedRead{}, fmt.Errorf("directory: read the change feed: %w", err)
		}
		if r.filled, err = scanChanges(rows, r.filled); err != nil {
			return feedRead{}, err
		}
	}
	rows, err := d.Query(ctx, `SELECT seq, coop_id FROM directory_changes WHERE seq > $1 ORDER BY seq LIMIT `+
		strconv.Itoa(feedBatch), c.last)
	if err != nil {
		return feedRead{}, fmt.Errorf("directory: read the change feed: %w", err)
	}
	if r.next, err = scanChanges(rows, nil); err != nil {
		return feedRead{}, err
	}
	return r, nil
}

func scanChanges(rows *sql.Rows, out []change) ([]change, error) {
	defer rows.Close()
	for rows.Next() {
		var ch change
		if err := rows.Scan(&ch.seq, &ch.coopID); err != nil {
			return nil, fmt.Errorf("directory: read the change feed: %w", err)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: read the change feed: %w", err)
	}
	return out, nil
}

// advance moves the cursor past r: filled gaps are closed, seqs skipped
// over become gaps, and gaps older than gapTimeout are given up. It returns
// how many were given up.
func (c *feedCursor) advance(r feedRead, now time.Time) (givenUp int) {
	for _, ch := range r.filled {
		delete(c.gaps, ch.seq)
	}
	for _, ch := range r.next {
		if ch.seq <= c.last {
			continue
		}
		// Only the highest maxGaps skipped seqs are worth a wait (a jump
		// that large is rows pruned or a sequence moved on, not open
		// transactions).
		for seq := max(c.last+1, ch.seq-maxGaps); seq < ch.seq; seq++ {
			c.gaps[seq] = now
		}
		c.last = ch.seq
	}
	for seq, at := range c.gaps {
		if now.Sub(at) > c.gapTimeout {
			delete(c.gaps, seq)
			givenUp++
		}
	}
	if extra := len(c.gaps) - maxGaps; extra > 0 {
		old := make([]int64, 0, len(c.gaps))
		for seq := range c.gaps {
			old = append(old, seq)
		}
		slices.Sort(old)
		for _, seq := range old[:extra] {
			delete(c.gaps, seq)
		}
		givenUp += extra
	}
	return givenUp
}

// pruneChanges deletes the feed's rows older than keepChanges.
func (s *Store) pruneChanges(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.Exec(ctx, `DELETE FROM directory_changes WHERE changed_at < $1`, now.Add(-keepChanges).UTC())
	if err != nil {
		return 0, fmt.Errorf("directory: prune the change feed: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// placeholders returns "$from, $from+1, ..." for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

func int64Args(ids []int64) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}
