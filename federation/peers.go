package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/coopnet/coopnet/internal/db"
)

// A peer that keeps failing is backed off as a whole: after threshold
// consecutive failures (network errors, 5xx, 408, 429) its jobs are snoozed
// until backoff_until instead of each being tried and failing on its own
// schedule. When the back-off ends one job goes first (a probe); its
// success releases the rest, its failure doubles the back-off. Any success,
// or an answer that proves the host is up (a 4xx refusal), resets the count.
// This is Fedify's and Mastodon's circuit breaker, kept in the peers table
// so that every process sharing the database sees it.

// peerSettings tune the back-off; tests shrink them.
type peerSettings struct {
	threshold    int           // consecutive failures before backing off
	backoffBase  time.Duration // first back-off; doubles with each failure after
	backoffMax   time.Duration
	probeWait    time.Duration // how long others wait while one job probes
	refreshEvery time.Duration // how often failing and blocked hosts are re-read
	flushEvery   time.Duration // how often buffered successes are written
	okEvery      time.Duration // a healthy host's last success is rewritten at most this often
}

func defaultPeerSettings() peerSettings {
	return peerSettings{
		threshold:    5,
		backoffBase:  10 * time.Minute,
		backoffMax:   12 * time.Hour,
		probeWait:    30 * time.Second,
		refreshEvery: 5 * time.Second,
		flushEvery:   250 * time.Millisecond,
		okEvery:      10 * time.Minute,
	}
}

// backoff is how long a host with failures consecutive failures is left alone.
func (s peerSettings) backoff(failures int) time.Duration {
	d := s.backoffBase
	for i := s.threshold; i < failures && d < s.backoffMax; i++ {
		d *= 2
	}
	return min(d, s.backoffMax)
}

// peerBook is this process's view of peer health. Successes, the common
// case, are buffered and written in batches: a fan-out to 1,000 hosts costs
// one statement, not 1,000 transactions on SQLite's single writer. Failures
// are written at once, since the back-off depends on their count.
type peerBook struct {
	db  *db.DB
	now func() time.Time
	log *slog.Logger
	set peerSettings

	mu        sync.Mutex
	failing   map[string]peerFailing // hosts with failures > 0
	policy    deliveryPolicy
	probing   map[string]bool
	okAt      map[string]time.Time // when a success was last buffered
	pendingOK map[string]time.Time // successes not yet written
}

type peerFailing struct {
	failures int
	until    time.Time
}

func newPeerBook(d *db.DB, now func() time.Time, log *slog.Logger, set peerSettings) *peerBook {
	return &peerBook{
		db: d, now: now, log: log, set: set,
		failing: map[string]peerFailing{}, probing: map[string]bool{},
		okAt: map[string]time.Time{}, pendingOK: map[string]time.Time{},
	}
}

// run flushes successes and re-reads failing and blocked hosts (which other
// processes and the admin change) until ctx ends.
func (b *peerBook) run(ctx context.Context) {
	flush := time.NewTicker(b.set.flushEvery)
	defer flush.Stop()
	refresh := time.NewTicker(b.set.refreshEvery)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			if err := b.flush(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("peer health not written", "error", err)
			}
		case <-refresh.C:
			if err := b.refresh(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("peer health not read", "error", err)
			}
		}
	}
}

// refresh re-reads the failing and the blocked hosts.
func (b *peerBook) refresh(ctx context.Context) error {
	failing := map[string]peerFailing{}
	rows, err := b.db.Query(ctx, `SELECT host, failures, backoff_until FROM peers WHERE failures > 0`)
	if err != nil {
		return fmt.Errorf("federation: read peers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var host string
		var st peerFailing
		var until sql.NullTime
		if err := rows.Scan(&host, &st.failures, &until); err != nil {
			return fmt.Errorf("federation: read peers: %w", err)
		}
		st.until = until.Time
		failing[host] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("federation: read peers: %w", err)
	}
	policy, err := readDeliveryPolicy(ctx, b.db.Query)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for host := range b.pendingOK {
		delete(failing, host) // a success not yet written is newer
	}
	b.failing, b.policy = failing, policy
	return nil
}

// refuses reports whether the policy, as last read, forbids sending to host.
func (b *peerBook) refuses(host string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.policy.refuses(host)
}

// admit says whether a delivery to host may go now. wait > 0: snooze that
// long. probe: this delivery tests a host whose back-off just ended; call
// probed when it is done.
func (b *peerBook) admit(ctx context.Context, host string) (probe bool, wait time.Duration) {
	b.mu.Lock()
	st, ok := b.failing[host]
	b.mu.Unlock()
	if !ok || st.failures < b.set.threshold {
		return false, 0
	}
	// Backed off as far as this process knows: check the database, where
	// another process or the admin (RetryPeer) may have cleared it.
	if err := b.reload(ctx, host); err != nil {
		b.log.Warn("peer health not read", "peer", host, "error", err)
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok = b.failing[host]
	switch {
	case !ok || st.failures < b.set.threshold:
		return false, 0
	case now.Before(st.until):
		// Spread the wake-up, so a host's backlog does not arrive at once.
		d := st.until.Sub(now)
		return false, d + rand.N(d/10+time.Millisecond)
	case b.probing[host]:
		return false, b.set.probeWait + rand.N(b.set.probeWait/2+time.Millisecond)
	}
	b.probing[host] = true
	return true, 0
}

// reload re-reads one host's failure count and back-off.
func (b *peerBook) reload(ctx context.Context, host string) error {
	var st peerFailing
	var until sql.NullTime
	err := b.db.QueryRow(ctx, `SELECT failures, backoff_until FROM peers WHERE host = $1`, host).Scan(&st.failures, &until)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	st.until = until.Time
	b.mu.Lock()
	defer b.mu.Unlock()
	if st.failures == 0 {
		delete(b.failing, host)
	} else {
		b.failing[host] = st
	}
	return nil
}

func (b *peerBook) probed(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.probing, host)
}

// succeeded records a delivery that went through. It writes nothing when the
// host is known healthy and its success was recorded lately.
func (b *peerBook) succeeded(host string) {
	now := dbTime(b.now())
	b.mu.Lock()
	defer b.mu.Unlock()
	_, wasFailing := b.failing[host]
	delete(b.failing, host)
	if last, ok := b.okAt[host]; !wasFailing && ok && now.Sub(last) < b.set.okEvery {
		return
	}
	b.okAt[host] = now
	b.pendingOK[host] = now
}

// flush writes the buffered successes in one transaction. A success does not
// clear a failure recorded after it (by another worker or process).
func (b *peerBook) flush(ctx context.Context) error {
	b.mu.Lock()
	pending := b.pendingOK
	b.pendingOK = map[string]time.Time{}
	b.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	hosts := make([]string, 0, len(pending))
	for h := range pending {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts) // the same lock order in every process
	err := b.db.Tx(ctx, func(tx *sql.Tx) error {
		const chunk = 200
		for i := 0; i < len(hosts); i += chunk {
			part := hosts[i:min(i+chunk, len(hosts))]
			var sb strings.Builder
			args := make([]any, 0, 2*len(part))
			sb.WriteString(`INSERT INTO peers (host, failures, last_success_at) VALUES `)
			for j, h := range part {
				if j > 0 {
					sb.WriteString(", ")
				}
				fmt.Fprintf(&sb, "($%d, 0, $%d)", 2*j+1, 2*j+2)
				args = append(args, h, pending[h])
			}
			sb.WriteString(` ON CONFLICT (host) DO UPDATE SET
				failures = CASE WHEN peers.last_failure_at IS NULL OR peers.last_failure_at <= excluded.last_success_at THEN 0 ELSE peers.failures END,
				backoff_until = CASE WHEN peers.last_failure_at IS NULL OR peers.last_failure_at <= excluded.last_success_at THEN NULL ELSE peers.backoff_until END,
				last_success_at = excluded.last_success_at`)
			if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Not written: let the next success of these hosts try again.
		b.mu.Lock()
		for _, h := range hosts {
			delete(b.okAt, h)
		}
		b.mu.Unlock()
		return fmt.Errorf("federation: record peer successes: %w", err)
	}
	return nil
}

// failed records a failure (the host could not be reached or failed), and
// backs the host off once it has failed threshold times in a row.
func (b *peerBook) failed(ctx context.Context, host, reason string) {
	now := dbTime(b.now())
	b.mu.Lock()
	delete(b.pendingOK, host)
	delete(b.okAt, host)
	b.mu.Unlock()
	var st peerFailing
	err := b.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO peers (host, failures, last_error, last_failure_at) VALUES ($1, 1, $2, $3)
			ON CONFLICT (host) DO UPDATE SET failures = peers.failures + 1,
				last_error = excluded.last_error, last_failure_at = excluded.last_failure_at
			RETURNING failures`, host, clip(reason), now).Scan(&st.failures)
		if err != nil || st.failures < b.set.threshold {
			return err
		}
		st.until = now.Add(b.set.backoff(st.failures))
		_, err = tx.ExecContext(ctx, `UPDATE peers SET backoff_until = $2 WHERE host = $1`, host, st.until)
		return err
	})
	if err != nil {
		b.log.Warn("peer failure not recorded", "peer", host, "error", err)
		return
	}
	if !st.until.IsZero() {
		b.log.Warn("peer backed off", "peer", host, "failures", st.failures, "until", st.until, "reason", reason)
	}
	b.mu.Lock()
	b.failing[host] = st
	b.mu.Unlock()
}

// refused records a refusal: the delivery failed, but the host is up, so
// its failure count starts again.
func (b *peerBook) refused(ctx context.Context, host, reason string) {
	b.mu.Lock()
	delete(b.failing, host)
	b.mu.Unlock()
	_, err := b.db.Exec(ctx, `INSERT INTO peers (host, failures, last_error, last_failure_at) VALUES ($1, 0, $2, $3)
		ON CONFLICT (host) DO UPDATE SET failures = 0, backoff_until = NULL,
			last_error = excluded.last_error, last_failure_at = excluded.last_failure_at`,
		host, clip(reason), dbTime(b.now()))
	if err != nil {
		b.log.Warn("peer refusal not recorded", "peer", host, "error", err)
	}
}

// throttled records a "slow down" (429 or 503 with Retry-After): shown to
// the admin, but not counted as a failure.
func (b *peerBook) throttled(ctx context.Context, host, reason string) {
	_, err := b.db.Exec(ctx, `INSERT INTO peers (host, last_error) VALUES ($1, $2)
		ON CONFLICT (host) DO UPDATE SET last_error = excluded.last_error`, host, clip(reason))
	if err != nil {
		b.log.Warn("peer throttling not recorded", "peer", host, "error", err)
	}
}

// reset forgets a host's failures (the admin asked to retry it).
func (b *peerBook) reset(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.failing, host)
	delete(b.probing, host)
}

// dbTime is a time as the database keeps it: UTC, to the microsecond.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// clip bounds an error message kept in the database.
func clip(s string) string {
	const n = 500
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Peer is the delivery health of one peer host, for the admin view.
type Peer struct {
	Host string
	// Failures counts consecutive failed deliveries (unreachable, 5xx).
	Failures int
	// BackoffUntil is when deliveries to the host resume; zero if they are
	// not held back.
	BackoffUntil  time.Time
	LastError     string
	LastSuccessAt time.Time // zero: never
	LastFailureAt time.Time // zero: never
	// Pending counts deliveries waiting, running or to be retried; Failed
	// those given up (attempts exhausted, refused, or retried too long).
	Pending, Failed int
	// Refused is set when the node's policy forbids sending to the host
	// (blocked, or not allowed in allowlist mode).
	Refused bool
}

// PeerHealth lists every peer host delivered to, or with deliveries queued,
// by host name.
func (f *Federation) PeerHealth(ctx context.Context) ([]Peer, error) {
	if err := f.queue.peers.flush(ctx); err != nil {
		f.log.Warn("peer health not written", "error", err)
	}
	byHost := map[string]*Peer{}
	peer := func(host string) *Peer {
		p := byHost[host]
		if p == nil {
			p = &Peer{Host: host}
			byHost[host] = p
		}
		return p
	}
	rows, err := f.db.Query(ctx, `SELECT host, failures, backoff_until, last_error, last_success_at, last_failure_at FROM peers`)
	if err != nil {
		return nil, fmt.Errorf("federation: read peers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var host, lastErr string
		var failures int
		var until, ok, failed sql.NullTime
		if err := rows.Scan(&host, &failures, &until, &lastErr, &ok, &failed); err != nil {
			return nil, fmt.Errorf("federation: read peers: %w", err)
		}
		p := peer(host)
		p.Failures, p.LastError = failures, lastErr
		p.BackoffUntil, p.LastSuccessAt, p.LastFailureAt = until.Time, ok.Time, failed.Time
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("federation: read peers: %w", err)
	}
	if err := f.countDeliveries(ctx, peer); err != nil {
		return nil, err
	}
	policy, err := readDeliveryPolicy(ctx, f.db.Query)
	if err != nil {
		return nil, err
	}
	out := make([]Peer, 0, len(byHost))
	for _, p := range byHost {
		p.Refused = policy.refuses(p.Host)
		if !p.BackoffUntil.IsZero() && !p.BackoffUntil.After(f.cfg.Now()) {
			p.BackoffUntil = time.Time{}
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// countDeliveries counts unfinished and failed deliveries per host. It reads
// River's table directly: a grouped count is one query, where JobList would
// page through every job. args ->> 'host' reads the same on both databases.
func (f *Federation) countDeliveries(ctx context.Context, peer func(string) *Peer) error {
	rows, err := f.db.Query(ctx, `SELECT args ->> 'host', state, COUNT(*) FROM river_job
		WHERE kind = $1 AND state <> 'completed' GROUP BY args ->> 'host', state`, deliverKind)
	if err != nil {
		return fmt.Errorf("federation: count deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var host sql.NullString
		var state string
		var n int
		if err := rows.Scan(&host, &state, &n); err != nil {
			return fmt.Errorf("federation: count deliveries: %w", err)
		}
		if !host.Valid {
			continue
		}
		switch rivertype.JobState(state) {
		case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
			peer(host.String).Failed += n
		default:
			peer(host.String).Pending += n
		}
	}
	return rows.Err()
}

// RetryPeer clears a host's back-off and retries at once its deliveries that
// failed or wait for a later attempt.
func (f *Federation) RetryPeer(ctx context.Context, host string) error {
	host = strings.ToLower(strings.TrimSpace(host))
	if _, err := f.db.Exec(ctx, `UPDATE peers SET failures = 0, backoff_until = NULL WHERE host = $1`, host); err != nil {
		return fmt.Errorf("federation: reset peer %s: %w", host, err)
	}
	f.queue.peers.reset(host)
	params := river.NewJobListParams().Kinds(deliverKind).
		States(rivertype.JobStateDiscarded, rivertype.JobStateCancelled, rivertype.JobStateRetryable, rivertype.JobStateScheduled).
		Where(hostPredicate, river.NamedArgs{"host": host}).First(500)
	for {
		res, err := f.queue.client.JobList(ctx, params)
		if err != nil {
			return fmt.Errorf("federation: list deliveries to %s: %w", host, err)
		}
		for _, j := range res.Jobs {
			if _, err := f.queue.client.JobRetry(ctx, j.ID); err != nil {
				return fmt.Errorf("federation: retry delivery %d: %w", j.ID, err)
			}
		}
		if len(res.Jobs) < 500 {
			return nil
		}
		params = params.After(res.LastCursor)
	}
}
