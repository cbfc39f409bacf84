package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coopnet/coopnet/directory"
)

// Freshness: a peer's coop is learned when one of our coops follows it, and
// kept current by the Updates it sends. An Update can be missed (our node
// was down longer than the peer retried, the peer lost its queue), so a
// background loop refetches every peer's coop whose profile has not been
// fetched for a week, a small batch each round, gently for each host:
//
//   - success: the profile is stored as from an Update of the actor, the
//     services collection read as after an Accept; the upsert of the coop
//     also clears unreachable_since;
//   - 410 Gone, or a Tombstone: the actor is forgotten as on a Delete of it
//     (its coop, services and follows go);
//   - 404: the host is up but does not know the actor. It may be a broken
//     deploy, so it counts as a failure at first, and as gone once the coop
//     has been unreachable for notFoundGrace;
//   - anything else (network errors, timeouts, 5xx, 429, but also 401/403
//     and documents that are not the actor): the coop is marked unreachable
//     since the first failure and tried again in a later round. The
//     directory shows it stale once that lasts longer than its grace.
//
// The same loop reads the peers' following collections for suggestions
// (discovery.go). Processes sharing a database take turns at the loop's
// rounds (freshnessLease): one does them while it runs.

// FreshnessOptions tunes the background refresh. The zero value of a field
// means its default.
type FreshnessOptions struct {
	// Interval is the time between two rounds (5 minutes).
	Interval time.Duration
	// Batch is the most coops refetched in one round (20).
	Batch int
	// StaleAfter is how long a peer's coop goes without being fetched
	// before it is refetched (7 days).
	StaleAfter time.Duration
	// PerHostPerMinute caps the fetches this process makes to one host for
	// the refresh and for discovery, in any minute (30).
	PerHostPerMinute int
	// DiscoveryDepth is 1 (suggest what the peers we follow follow) or 2
	// (also what those follow, for a capped number of them). Default 1.
	DiscoveryDepth int
	// DiscoveryEvery is how often a peer's following collection is read
	// again (6 hours).
	DiscoveryEvery time.Duration
	// Manual turns the background rounds off: RefreshStale and
	// RefreshDiscovery run only when called (tests, one-off commands).
	Manual bool
}

func (o FreshnessOptions) withDefaults() FreshnessOptions {
	def := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	o.Interval = def(o.Interval, 5*time.Minute)
	o.StaleAfter = def(o.StaleAfter, 7*24*time.Hour)
	o.DiscoveryEvery = def(o.DiscoveryEvery, 6*time.Hour)
	if o.Batch <= 0 {
		o.Batch = 20
	}
	if o.PerHostPerMinute <= 0 {
		o.PerHostPerMinute = 30
	}
	if o.DiscoveryDepth <= 0 {
		o.DiscoveryDepth = 1
	}
	o.DiscoveryDepth = min(o.DiscoveryDepth, 2)
	return o
}

const (
	// notFoundGrace is how long a coop must have been unreachable for a
	// 404 of its actor to count as gone.
	notFoundGrace = 24 * time.Hour
	// fetchesPerRefresh is what one refetch of a coop is charged against
	// the host's rate: its actor, its services collection and a page.
	fetchesPerRefresh = 3
	// maxSkipRounds bounds how many rounds a failing host sits out.
	maxSkipRounds = 64
	// staleScan is how many stale coops one round looks at per coop it may
	// refetch: those of hosts that sit the round out are passed over.
	staleScan = 10
)

// refresher runs the freshness and discovery rounds in the background and
// keeps the state they share: settings, per-host rates and failing hosts.
type refresher struct {
	f      *Federation
	rate   *hostRate
	holder string // this process, in freshnessLease

	mu      sync.Mutex
	opts    FreshnessOptions
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	kick    chan struct{}

	staleMu sync.Mutex // one freshness round at a time; guards what follows
	round   int
	failing map[string]hostFailure // by host, or by actor id for one actor's failures

	discMu sync.Mutex // one discovery round at a time
}

// hostFailure is a host whose refetches failed in a row: it sits out the
// rounds up to skipUntil (1, then 2, 4, ... up to maxSkipRounds), so that
// dead hosts do not take the batch from live ones.
type hostFailure struct {
	streak    int
	skipUntil int
}

func newRefresher(f *Federation) *refresher {
	o := FreshnessOptions{}.withDefaults()
	host, _ := os.Hostname()
	return &refresher{
		f: f, opts: o, kick: make(chan struct{}, 1), failing: map[string]hostFailure{},
		rate:   newHostRate(o.PerHostPerMinute, f.cfg.Now),
		holder: fmt.Sprintf("%s/%d/%08x", host, os.Getpid(), rand.Uint32()),
	}
}

// ConfigureFreshness changes how peers' coops are refetched and their
// follows read. A running loop takes the new interval after its next round.
func (f *Federation) ConfigureFreshness(o FreshnessOptions) {
	r := f.fresh
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = o.withDefaults()
	r.rate = newHostRate(r.opts.PerHostPerMinute, f.cfg.Now)
}

func (r *refresher) options() FreshnessOptions {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opts
}

func (r *refresher) hostRate() *hostRate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rate
}

// start runs the rounds until ctx ends or stop is called. The first round
// comes after a minute or so, not at once: a node that restarts often
// still refreshes, without a burst of fetches at every start.
func (r *refresher) start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	r.started, r.cancel, r.done = true, cancel, make(chan struct{})
	first := min(r.opts.Interval, time.Minute)
	go func() {
		defer close(r.done)
		timer := time.NewTimer(first + rand.N(first/2+1))
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
				if !r.options().Manual && r.turn(ctx) {
					r.runRound(ctx, true)
				}
				timer.Reset(r.options().Interval)
			case <-r.kick:
				if !r.options().Manual {
					r.runRound(ctx, false)
				}
			}
		}
	}()
}

// freshnessLease makes the background rounds take turns among the
// processes sharing a database (db.Lease): two processes refetching at once
// would fetch every stale coop twice, and read every follows collection
// twice.
const freshnessLease = "federation-freshness"

// turn claims the background rounds for this process for two intervals. It
// keeps them while it runs (each round renews the claim), and another
// process takes over once it has missed two rounds. A database error skips
// the round: the round would have failed too.
func (r *refresher) turn(ctx context.Context) bool {
	ok, err := r.f.db.Lease(ctx, freshnessLease, r.holder, time.Now().Add(2*r.options().Interval))
	if err != nil {
		if ctx.Err() == nil {
			r.f.log.Warn("freshness round skipped", "error", err)
		}
		return false
	}
	return ok
}

// runRound runs one round of both kinds (stale too) or of discovery alone
// (a kick from the suggestions page), logging what it did.
func (r *refresher) runRound(ctx context.Context, stale bool) {
	log := r.f.log
	if stale {
		rep, err := r.f.RefreshStale(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("refresh of peers' coops failed", "error", err)
		} else if rep.Refreshed+rep.Unreachable+rep.Gone > 0 {
			log.Info("peers' coops refreshed", "refreshed", rep.Refreshed, "unreachable", rep.Unreachable,
				"gone", rep.Gone, "deferred", rep.Deferred)
		}
	}
	rep, err := r.f.RefreshDiscovery(ctx)
	if err != nil && ctx.Err() == nil {
		log.Warn("discovery failed", "error", err)
	} else if rep.PeersRead+rep.ActorsRead+rep.Failed > 0 {
		log.Info("discovery", "peers_read", rep.PeersRead, "actors_read", rep.ActorsRead,
			"failed", rep.Failed, "deferred", rep.Deferred)
	}
}

// wake asks the loop for a discovery round soon; it never blocks, and does
// nothing when the loop is not running.
func (r *refresher) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// stop ends the loop and waits for the round in progress, up to ctx's
// deadline.
func (r *refresher) stop(ctx context.Context) error {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.started, r.cancel = false, nil
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("federation: stop the refresh: %w", ctx.Err())
	}
}

// RefreshReport says what one freshness round did.
type RefreshReport struct {
	Refreshed   int // fetched and stored again
	Unreachable int // could not be fetched: marked unreachable
	Gone        int // forgotten: 410, a Tombstone, or a lasting 404
	Deferred    int // left for a later round: rate limit, failing host, batch full
}

// RefreshStale runs one freshness round now: it refetches up to a batch of
// the peers' coops not fetched for StaleAfter. The background loop calls it
// every Interval; tests and commands may call it directly.
func (f *Federation) RefreshStale(ctx context.Context) (RefreshReport, error) {
	r := f.fresh
	r.staleMu.Lock()
	defer r.staleMu.Unlock()
	o := r.options()
	r.round++
	now := f.cfg.Now()
	coops, err := f.dir.StaleRemoteCoops(ctx, now.Add(-o.StaleAfter), o.Batch*staleScan)
	if err != nil {
		return RefreshReport{}, err
	}
	var rep RefreshReport
	failedNow := map[string]error{} // hosts that failed in this round
	for _, k := range coops {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		host := hostOf(k.ActorID)
		if ferr, ok := failedNow[host]; ok {
			// The host failed a moment ago: its other coops share the fate
			// without another try.
			if err := f.markUnreachable(ctx, k.ID, k.ActorID, ferr, &rep); err != nil {
				return rep, err
			}
			continue
		}
		if f.queue.peers.backedOff(host) {
			// Deliveries to the host keep failing: no fetch would do better.
			failedNow[host] = errors.New("federation: the host is backed off after failed deliveries")
			if err := f.markUnreachable(ctx, k.ID, k.ActorID, failedNow[host], &rep); err != nil {
				return rep, err
			}
			continue
		}
		if rep.Refreshed+rep.Unreachable+rep.Gone >= o.Batch || r.sitsOut(host) || r.sitsOut(k.ActorID) ||
			!r.hostRate().take(host, fetchesPerRefresh) {
			rep.Deferred++
			continue
		}
		gone, ferr := f.refetchCoop(ctx, k.ID, k.ActorID)
		switch {
		case errors.Is(ferr, errStore):
			return rep, ferr
		case ferr == nil:
			delete(r.failing, host)
			delete(r.failing, k.ActorID)
			if gone {
				rep.Gone++
			} else {
				rep.Refreshed++
			}
		case errors.Is(ferr, ErrHostRefused):
			rep.Deferred++ // our own policy: nothing to learn about the peer
		default:
			if hostDown(ferr) {
				failedNow[host] = ferr
				r.failed(host)
			} else {
				r.failed(k.ActorID) // the host answers; this actor does not
			}
			if err := f.markUnreachable(ctx, k.ID, k.ActorID, ferr, &rep); err != nil {
				return rep, err
			}
		}
	}
	return rep, nil
}

// sitsOut reports whether a failing host (or actor) sits this round out.
func (r *refresher) sitsOut(key string) bool {
	hf, ok := r.failing[key]
	return ok && hf.skipUntil >= r.round
}

// failed counts a failure of a host (or of one actor) in this round.
func (r *refresher) failed(key string) {
	hf := r.failing[key]
	hf.streak = min(hf.streak+1, 8) // 2^7 rounds is past maxSkipRounds already
	// The first failure is tried again next round; then 1, 3, 7 ... rounds
	// are sat out.
	hf.skipUntil = r.round + min(1<<(hf.streak-1)-1, maxSkipRounds)
	r.failing[key] = hf
}

// refetchCoop fetches a peer's coop's actor and stores it as an Update of
// it would be (with its services collection, as after an Accept). gone
// reports that the actor was forgotten (410, a Tombstone, a lasting 404).
func (f *Federation) refetchCoop(ctx context.Context, coopID int64, actorID string) (gone bool, err error) {
	body, final, err := f.fetchSigned(ctx, actorID)
	switch status := statusOf(err); {
	case status == http.StatusGone:
		return true, f.forgetGone(ctx, actorID, "410 Gone")
	case status == http.StatusNotFound:
		since, serr := f.unreachableSince(ctx, coopID)
		if serr != nil || since.IsZero() || f.cfg.Now().Sub(since) < notFoundGrace {
			return false, errors.Join(err, serr)
		}
		return true, f.forgetGone(ctx, actorID, "404 Not Found, unreachable since "+since.Format(time.RFC3339))
	case err != nil:
		return false, err
	}
	var doc actorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return false, fmt.Errorf("%w: %s: %v", ErrNotActor, actorID, err)
	}
	if doc.Type.hasAny("Tombstone") && (doc.ID == "" || string(doc.ID) == actorID) && sameOrigin(final.String(), actorID) {
		return true, f.forgetGone(ctx, actorID, "Tombstone")
	}
	if err := doc.check(final); err != nil {
		return false, err
	}
	if string(doc.ID) != actorID {
		// Stored under its new id it would be another coop, and this one
		// would stay stale: an actor that moves says so with a Move.
		return false, fmt.Errorf("%w: %s now names itself %s", ErrNotActor, actorID, doc.ID)
	}
	if _, err := f.saveActor(ctx, &doc); err != nil {
		return false, err
	}
	if !doc.isCoop() {
		// No longer an Organization: the directory lists coops only. Its
		// follows stay.
		if _, err := f.dir.DeleteRemoteCoop(ctx, nil, actorID); err != nil {
			return false, fmt.Errorf("%w: %w", errStore, err)
		}
		return false, nil
	}
	// The upsert also clears unreachable_since.
	id, err := f.dir.UpsertRemoteCoop(ctx, nil, doc.remoteCoop())
	if errors.Is(err, directory.ErrInvalidRemote) {
		return false, err
	} else if err != nil {
		return false, fmt.Errorf("%w: %w", errStore, err)
	}
	if doc.Services != "" && sameOrigin(string(doc.Services), actorID) {
		// The profile is stored (the host answered); services that cannot
		// be read now are read with the next refetch.
		if err := f.syncServices(ctx, id, actorID, string(doc.Services)); err != nil {
			f.log.WarnContext(ctx, "peer's services not read", "actor", actorID, "error", err)
		}
	}
	return false, nil
}

// unreachableSince returns when refetching the coop began to fail, or the
// zero time.
func (f *Federation) unreachableSince(ctx context.Context, coopID int64) (time.Time, error) {
	var since sql.NullTime
	err := f.db.QueryRow(ctx, `SELECT unreachable_since FROM coops WHERE id = $1`, coopID).Scan(&since)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("%w: read coop %d: %w", errStore, coopID, err)
	}
	return since.Time, nil
}

// forgetGone forgets an actor its server says is gone, as a Delete of it
// would.
func (f *Federation) forgetGone(ctx context.Context, actorID, why string) error {
	f.log.InfoContext(ctx, "peer's coop is gone", "actor", actorID, "answer", why)
	if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return f.forgetActor(ctx, tx, actorID) }); err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	return nil
}

// markUnreachable records that a coop could not be refetched, since now
// unless an earlier failure is recorded (that one counts).
func (f *Federation) markUnreachable(ctx context.Context, coopID int64, actorID string, cause error, rep *RefreshReport) error {
	rep.Unreachable++
	since, err := f.unreachableSince(ctx, coopID)
	if err != nil || !since.IsZero() {
		return err // recorded already: the first failure counts
	}
	f.log.WarnContext(ctx, "peer's coop unreachable", "actor", actorID, "error", cause)
	now := f.cfg.Now()
	if err := f.dir.SetUnreachable(ctx, coopID, &now); err != nil && !errors.Is(err, directory.ErrNotFound) {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	return nil
}
