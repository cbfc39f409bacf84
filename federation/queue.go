package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/coopnet/coopnet/internal/db"
)

// Delivery runs on River (riverqueue.com): jobs are rows in the node's own
// database, inserted in the transaction that records the activity, so a
// change and its deliveries commit together and survive a restart. River
// brings what a home-made queue would have to grow: SKIP LOCKED fetching
// (several processes may share one PostgreSQL), retries with a pluggable
// policy, snoozing, rescue of jobs whose process died, cleanup, and a job
// list for the admin view. On SQLite River runs over db.WriteSQL(), the one
// write connection: River's writes queue behind ours instead of failing with
// SQLITE_BUSY, and its "listener" polls a notification table, so a commit is
// noticed within ~50 ms. On PostgreSQL riverdatabasesql has no LISTEN
// connection of its own, so the queue polls (see defaultQueueSettings).
// The few jobs a referral or a follow makes do not wait for either: they
// run at commit (queue_eager.go).

// deliverQueue is the River queue (and deliverKind the job kind) of deliveries.
const (
	deliverQueue = "deliver"
	deliverKind  = "deliver"
	// deliverMaxAttempts is Mastodon's: 16 attempts over about two days.
	deliverMaxAttempts = 16
)

// otherJobWorkers is how many jobs of Config.Workers (mail) run at once in
// this process: they are few, and a relay takes a handful of connections.
const otherJobWorkers = 4

// riverMigrateLock is the PostgreSQL advisory lock key that serialises River's
// own migrations between processes ("coopnet" + 1: the schema migrations use
// "coopnet"). rivermigrate takes no lock itself.
const riverMigrateLock = 7225442918771713

// DeliveryOptions tunes delivery. The zero value of a field means its default.
type DeliveryOptions struct {
	// Workers is the number of deliveries in flight in this process (32).
	// Signing costs ~1.2 ms of CPU, the rest is waiting on peers.
	Workers int
	// PerHost caps deliveries in flight to one host from this process (4),
	// so that a fan-out does not look like an attack to a small server.
	PerHost int
}

// queueSettings are the knobs of the queue; tests shrink the durations.
type queueSettings struct {
	workers, perHost int
	fetchCooldown    time.Duration // least time between two fetches of jobs
	fetchPoll        time.Duration // fetch at least this often
	jobTimeout       time.Duration
	hostWait         time.Duration // how long a job waits for a per-host slot before snoozing
	maxAge           time.Duration // a job older than this gives up instead of snoozing again
	retryUnit        time.Duration // one "second" of the retry schedule
	eagerGrace       time.Duration // how long River leaves a job run here at commit (queue_eager.go)
	eagerMax         int           // most jobs of one transaction that run here at commit
	peer             peerSettings
}

func defaultQueueSettings(dialect db.Dialect) queueSettings {
	// On PostgreSQL, without a LISTEN connection, polling is how new jobs
	// are found: an indexed query, 20 times a second per process. On SQLite
	// a commit is noticed through River's notification table; polling is
	// only the fallback, and each poll takes the single writer.
	poll := 50 * time.Millisecond
	if dialect == db.SQLite {
		poll = 200 * time.Millisecond
	}
	return queueSettings{
		workers:       32,
		perHost:       4,
		fetchCooldown: 5 * time.Millisecond,
		fetchPoll:     poll,
		jobTimeout:    2 * time.Minute,
		hostWait:      2 * time.Second,
		maxAge:        72 * time.Hour,
		retryUnit:     time.Second,
		eagerGrace:    10 * time.Second,
		eagerMax:      8,
		peer:          defaultPeerSettings(),
	}
}

// queue runs deliveries.
type queue struct {
	f        *Federation
	set      queueSettings
	driver   riverdriver.Driver[*sql.Tx]
	client   *river.Client[*sql.Tx]
	retry    *deliveryRetryPolicy
	peers    *peerBook
	hosts    *hostLimiter
	acts     *activityCache
	eager    *eagerRunner
	ua       string
	mu       sync.Mutex
	started  bool
	stopBook context.CancelFunc
	bookDone chan struct{}
}

func newQueue(f *Federation) (*queue, error) {
	q := &queue{f: f, set: defaultQueueSettings(f.db.Dialect()), retry: &deliveryRetryPolicy{unit: time.Second}}
	switch f.db.Dialect() {
	case db.SQLite:
		q.driver = riversqlite.New(f.db.WriteSQL())
	case db.Postgres:
		q.driver = riverdatabasesql.New(f.db.WriteSQL())
	default:
		return nil, fmt.Errorf("federation: no queue driver for %s", f.db.Dialect())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := q.migrate(ctx); err != nil {
		return nil, err
	}
	q.ua = fmt.Sprintf("coopnet/%s (+%s)", f.cfg.Version, strings.TrimSuffix(f.urls.Base.String(), "/"))
	if err := q.build(); err != nil {
		return nil, err
	}
	return q, nil
}

// migrate creates or updates River's tables. On PostgreSQL two processes may
// start at once and rivermigrate does not lock, so an advisory lock held by a
// transaction on a connection of its own serialises them; the second finds
// nothing left to do. On SQLite the node owns its file alone.
func (q *queue) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(q.driver, &rivermigrate.Config{Logger: quietLogger(q.f.log)})
	if err != nil {
		return fmt.Errorf("federation: queue migrations: %w", err)
	}
	if q.f.db.Dialect() == db.Postgres {
		lock, err := q.f.db.WriteSQL().BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("federation: queue migrations: %w", err)
		}
		defer lock.Rollback() //nolint:errcheck // only releases the lock
		if _, err := lock.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(riverMigrateLock)); err != nil {
			return fmt.Errorf("federation: queue migrations lock: %w", err)
		}
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("federation: queue migrations: %w", err)
	}
	return nil
}

// build makes the River client and the in-process helpers from q.set. It is
// called again when the settings change before start.
func (q *queue) build() error {
	s := q.set
	q.retry.unit = s.retryUnit
	q.peers = newPeerBook(q.f.db, q.f.cfg.Now, q.f.log, s.peer)
	q.hosts = newHostLimiter(s.perHost)
	q.acts = newActivityCache(64)
	workers := river.NewWorkers()
	deliver := &deliverWorker{q: q}
	if err := river.AddWorkerSafely(workers, deliver); err != nil {
		return fmt.Errorf("federation: queue: %w", err)
	}
	eager := map[string]eagerWork{deliverKind: eagerKind(deliver)}
	if err := q.f.addReferralWorkers(workers, eager); err != nil {
		return fmt.Errorf("federation: queue: %w", err)
	}
	q.eager = newEagerRunner(q, eager)
	queues := map[string]river.QueueConfig{deliverQueue: {MaxWorkers: s.workers}}
	for _, register := range q.f.cfg.Workers {
		if err := register(workers); err != nil {
			return fmt.Errorf("federation: queue: %w", err)
		}
	}
	if len(q.f.cfg.Workers) > 0 {
		// Only then: each queue polls, and on SQLite a poll takes the writer.
		queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: otherJobWorkers}
	}
	client, err := river.NewClient(q.driver, &river.Config{
		Queues:            queues,
		Workers:           workers,
		MaxAttempts:       deliverMaxAttempts,
		RetryPolicy:       q.retry,
		FetchCooldown:     s.fetchCooldown,
		FetchPollInterval: s.fetchPoll,
		JobTimeout:        s.jobTimeout,
		// Completed deliveries are of no use to anyone; failed ones stay a
		// week for the admin view.
		CompletedJobRetentionPeriod: time.Hour,
		CancelledJobRetentionPeriod: 7 * 24 * time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,
		Logger:                      quietLogger(q.f.log),
	})
	if err != nil {
		return fmt.Errorf("federation: queue: %w", err)
	}
	q.client = client
	return nil
}

// ConfigureDelivery changes the delivery options. Call it before Start.
func (f *Federation) ConfigureDelivery(o DeliveryOptions) error {
	return f.queue.configure(func(s *queueSettings) {
		if o.Workers > 0 {
			s.workers = o.Workers
		}
		if o.PerHost > 0 {
			s.perHost = o.PerHost
		}
	})
}

func (q *queue) configure(change func(*queueSettings)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return errors.New("federation: delivery options must be set before Start")
	}
	change(&q.set)
	return q.build()
}

func (q *queue) start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.started {
		return nil
	}
	if err := q.peers.refresh(ctx); err != nil {
		return err
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("federation: start deliveries: %w", err)
	}
	q.eager.start()
	bookCtx, cancel := context.WithCancel(ctx)
	q.stopBook, q.bookDone = cancel, make(chan struct{})
	go func() {
		defer close(q.bookDone)
		q.peers.run(bookCtx)
	}()
	q.started = true
	return nil
}

// stop lets deliveries in flight finish until ctx ends, then cancels them
// (River puts them back as available: nothing is lost), and writes the peer
// health still buffered.
func (q *queue) stop(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		return nil
	}
	q.started = false
	q.eager.stop()
	err := q.client.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = q.client.StopAndCancel(hard)
		cancel()
	}
	q.stopBook()
	<-q.bookDone
	flushCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ferr := q.peers.flush(flushCtx); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if err != nil {
		return fmt.Errorf("federation: stop deliveries: %w", err)
	}
	return nil
}

// deliveryRetryPolicy spaces the attempts as Mastodon (Sidekiq) does:
// attempt⁴ + 15 s plus up to 10·(attempt+1) s of jitter, so that 16 attempts
// span about two days and a peer that comes back within that time gets
// everything.
type deliveryRetryPolicy struct {
	unit time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (p *deliveryRetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(p.delay(job.Attempt, rand.IntN))
}

func (p *deliveryRetryPolicy) delay(attempt int, randN func(int) int) time.Duration {
	n := max(attempt, 1)
	secs := n*n*n*n + 15 + randN(10*(n+1))
	return time.Duration(secs) * p.unit
}

// deliverToFollowers queues, inside tx, the delivery of the stored activity
// activityID (a row of activities) to every accepted follower of the coop,
// once per shared inbox.
func (f *Federation) deliverToFollowers(ctx context.Context, tx *sql.Tx, coopID, activityID int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT ra.host, ra.inbox, ra.shared_inbox
		FROM followers fo JOIN remote_actors ra ON ra.id = fo.actor_id
		WHERE fo.coop_id = $1 AND fo.state = 'accepted'`, coopID)
	if err != nil {
		return fmt.Errorf("federation: read followers: %w", err)
	}
	defer rows.Close()
	var inboxes []string
	for rows.Next() {
		var host, inbox, shared string
		if err := rows.Scan(&host, &inbox, &shared); err != nil {
			return fmt.Errorf("federation: read followers: %w", err)
		}
		// The shared inbox takes one copy for all the followers on a
		// server: that is what it is for, and what makes fan-out cheap.
		if shared != "" {
			inbox = shared
		}
		inboxes = append(inboxes, inbox)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("federation: read followers: %w", err)
	}
	rows.Close()
	return f.deliverTo(ctx, tx, coopID, activityID, inboxes)
}

// deliverTo queues, inside tx, the delivery of the stored activity to inboxes.
// The policy comes from the cache (caches.go): a host blocked since is
// refused again when the job runs.
func (f *Federation) deliverTo(ctx context.Context, tx *sql.Tx, coopID, activityID int64, inboxes []string) error {
	policy, err := f.policy.get(ctx, f.db.Query)
	if err != nil {
		return err
	}
	targets := f.deliveryTargets(inboxes, policy)
	if len(targets) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(targets))
	for i, t := range targets {
		params[i] = river.InsertManyParams{Args: deliverArgs{Activity: activityID, Coop: coopID, Inbox: t.inbox, Host: t.host}}
	}
	if err := f.queue.insertTx(ctx, tx, params); err != nil {
		return fmt.Errorf("federation: queue deliveries: %w", err)
	}
	return nil
}

// InsertJobTx queues a job of a worker registered through Config.Workers
// inside tx, on the path deliveries take: the job commits, or rolls back,
// with the caller's change. opts may be nil.
func (f *Federation) InsertJobTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := f.queue.client.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("federation: queue a %s job: %w", args.Kind(), err)
	}
	return nil
}

type deliveryTarget struct{ inbox, host string }

// deliveryTargets drops duplicate inboxes, bad URLs and the hosts the
// policy refuses, and interleaves the hosts: River fetches jobs in id
// order, and ten jobs in a row for one host would leave most workers
// waiting on that host's limit while other hosts have nothing in flight.
func (f *Federation) deliveryTargets(inboxes []string, policy deliveryPolicy) []deliveryTarget {
	seen := make(map[string]bool, len(inboxes))
	byHost := map[string][]string{}
	var hosts []string
	n := 0
	for _, inbox := range inboxes {
		if seen[inbox] {
			continue
		}
		seen[inbox] = true
		host, err := inboxHost(inbox)
		if err != nil {
			f.log.Warn("delivery skipped", "inbox", inbox, "error", err)
			continue
		}
		if policy.refuses(host) {
			continue
		}
		if byHost[host] == nil {
			hosts = append(hosts, host)
		}
		byHost[host] = append(byHost[host], inbox)
		n++
	}
	out := make([]deliveryTarget, 0, n)
	for round := 0; len(hosts) > 0; round++ {
		left := hosts[:0]
		for _, host := range hosts {
			out = append(out, deliveryTarget{byHost[host][round], host})
			if round+1 < len(byHost[host]) {
				left = append(left, host)
			}
		}
		hosts = left
	}
	return out
}

// inboxHost returns the host (with port) that an inbox URL names, lower-cased.
func inboxHost(inbox string) (string, error) {
	u, err := url.Parse(inbox)
	if err != nil {
		return "", fmt.Errorf("federation: inbox URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("federation: inbox URL %q is not http(s)", inbox)
	}
	return strings.ToLower(u.Host), nil
}

// deliveryPolicy is the node's federation policy as delivery applies it
// (see policy.go): nothing is sent to a blocked host, nor, in allowlist
// mode, to a host not allowed. Rules match as policy.go's do: the host,
// without its port, and its parent domains.
type deliveryPolicy struct {
	allowlist    bool
	block, allow map[string]bool
}

// refuses reports whether the policy forbids sending to host.
func (p deliveryPolicy) refuses(host string) bool {
	if !p.allowlist && len(p.block) == 0 {
		return false
	}
	allowed := false
	for _, name := range policyNames(host) {
		if p.block[name] {
			return true
		}
		allowed = allowed || p.allow[name]
	}
	return p.allowlist && !allowed
}

// readDeliveryPolicy reads the policy through query: a transaction's
// QueryContext, or the read pool's Query.
func readDeliveryPolicy(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error)) (deliveryPolicy, error) {
	p := deliveryPolicy{block: map[string]bool{}, allow: map[string]bool{}}
	rows, err := query(ctx, `SELECT 'rule', host, action FROM federation_policy
		UNION ALL SELECT 'mode', '', value FROM node_settings WHERE key = $1`, FederationModeSetting)
	if err != nil {
		return p, fmt.Errorf("federation: read policy: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, host, value string
		if err := rows.Scan(&kind, &host, &value); err != nil {
			return p, fmt.Errorf("federation: read policy: %w", err)
		}
		switch {
		case kind == "mode":
			p.allowlist = value == ModeAllowlist
		case value == PolicyBlock:
			p.block[strings.ToLower(host)] = true
		case value == PolicyAllow:
			p.allow[strings.ToLower(host)] = true
		}
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("federation: read policy: %w", err)
	}
	return p, nil
}

// quietLogger passes on only River's warnings and errors: it logs every
// failed attempt at info level, and the worker logs those itself, with the
// peer and the reason.
func quietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevelHandler{l.Handler(), slog.LevelWarn})
}

type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

// Enabled implements slog.Handler.
func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// WithAttrs implements slog.Handler.
func (h minLevelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevelHandler{h.Handler.WithAttrs(as), h.min}
}

// WithGroup implements slog.Handler.
func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{h.Handler.WithGroup(name), h.min}
}
