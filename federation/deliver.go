package federation

import (
	"bytes"
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// deliverArgs is a delivery job: one stored activity to one inbox. Host is
// the inbox's host, kept apart so that the admin view and the per-peer
// back-off can select by it.
type deliverArgs struct {
	Activity int64  `json:"activity"`
	Coop     int64  `json:"coop"`
	Inbox    string `json:"inbox"`
	Host     string `json:"host"`
}

// Kind implements river.JobArgs.
func (deliverArgs) Kind() string { return deliverKind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (deliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: deliverQueue, MaxAttempts: deliverMaxAttempts}
}

// deliverWorker signs and POSTs one activity to one inbox.
type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	q *queue
}

// errDeliveryTooOld ends a job whose peer has stayed unreachable for longer
// than the whole retry schedule.
var errDeliveryTooOld = errors.New("federation: peer unreachable for the whole retry period")

// Work implements river.Worker. What it returns is the job's fate: nil done,
// river.JobCancel final, river.JobSnooze later without using an attempt, any
// other error retried by the retry policy. A delivery given up that carried
// a referral's Offer is recorded on the referral.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	err := w.work(ctx, job)
	if cause, ok := givenUp(ctx, err, job.JobRow); ok {
		w.q.f.deliveryGivenUp(ctx, job.Args, cause)
	}
	return err
}

// givenUp tells whether err ends a job for good: a cancel, or a failure on
// its last attempt. It returns the cause.
func givenUp(ctx context.Context, err error, job *rivertype.JobRow) (error, bool) {
	var cancel *river.JobCancelError
	var snooze *river.JobSnoozeError
	switch {
	case err == nil, ctx.Err() != nil, errors.As(err, &snooze):
		return nil, false
	case errors.As(err, &cancel):
		return cancel.Unwrap(), true
	}
	return err, job.Attempt >= job.MaxAttempts
}

func (w *deliverWorker) work(ctx context.Context, job *river.Job[deliverArgs]) error {
	q, a := w.q, job.Args
	if q.peers.refuses(a.Host) {
		return river.JobCancel(fmt.Errorf("%w: %s", ErrHostRefused, a.Host))
	}
	probe, wait := q.peers.admit(ctx, a.Host)
	if wait > 0 {
		if time.Since(job.CreatedAt) > q.set.maxAge {
			return river.JobCancel(errDeliveryTooOld)
		}
		return river.JobSnooze(wait)
	}
	if probe {
		defer q.peers.probed(a.Host)
	}
	release, ok := q.hosts.acquire(ctx, a.Host, q.set.hostWait)
	if !ok {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The host's slots are busy: come back soon rather than hold one of
		// the node's workers idle.
		return river.JobSnooze(time.Second + rand.N(2*time.Second))
	}
	defer release()
	act, err := q.acts.get(ctx, a.Activity, q.loadActivity)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("federation: activity %d no longer exists", a.Activity))
	}
	if err != nil {
		return err
	}
	res := q.post(ctx, act, a.Inbox)
	if ctx.Err() != nil {
		// Stopping (or out of time): not the peer's fault. River puts the
		// job back without counting the attempt when the node is stopping.
		return ctx.Err()
	}
	return q.settle(ctx, job, res)
}

// settle records what the peer answered and turns it into the job's fate.
func (q *queue) settle(ctx context.Context, job *river.Job[deliverArgs], res deliveryResult) error {
	a := job.Args
	switch res.kind {
	case deliveryDone:
		q.peers.succeeded(a.Host)
		return nil
	case deliveryRefused:
		q.f.log.Info("delivery refused", "peer", a.Host, "inbox", a.Inbox, "job", job.ID, "reason", res.err)
		q.peers.refused(ctx, a.Host, res.err.Error())
		return river.JobCancel(res.err)
	case deliveryThrottled:
		q.peers.throttled(ctx, a.Host, res.err.Error())
		if time.Since(job.CreatedAt) > q.set.maxAge {
			return river.JobCancel(errDeliveryTooOld)
		}
		return river.JobSnooze(res.retryAfter)
	default:
		q.f.log.Info("delivery failed", "peer", a.Host, "inbox", a.Inbox, "job", job.ID,
			"attempt", job.Attempt, "reason", res.err)
		q.peers.failed(ctx, a.Host, res.err.Error())
		return res.err
	}
}

// deliveryKind sorts the answers of a peer.
type deliveryKind int

const (
	deliveryDone        deliveryKind = iota // 2xx
	deliveryRefused                         // 4xx but 408/429, or never reachable: final
	deliveryThrottled                       // 429/503 with Retry-After: snooze
	deliveryUnreachable                     // network error, 5xx, 408, 429: retry
)

type deliveryResult struct {
	kind       deliveryKind
	retryAfter time.Duration
	err        error
}

// maxRetryAfter caps how long a peer's Retry-After may hold a delivery.
const maxRetryAfter = time.Hour

// classifyResponse sorts a peer's answer. Unreachable (network, 5xx, 429)
// is told apart from refused (401, 403, 404, 410...): the first is retried,
// the second would be refused again.
func classifyResponse(status int, retryAfter string, now time.Time) deliveryResult {
	switch {
	case status >= 200 && status < 300:
		return deliveryResult{kind: deliveryDone}
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		err := fmt.Errorf("HTTP %d %s", status, http.StatusText(status))
		if d, ok := parseRetryAfter(retryAfter, now); ok {
			return deliveryResult{kind: deliveryThrottled, retryAfter: d, err: err}
		}
		return deliveryResult{kind: deliveryUnreachable, err: err}
	case status == http.StatusRequestTimeout || status >= 500:
		return deliveryResult{kind: deliveryUnreachable, err: fmt.Errorf("HTTP %d %s", status, http.StatusText(status))}
	case status >= 400:
		return deliveryResult{kind: deliveryRefused, err: fmt.Errorf("refused: HTTP %d %s", status, http.StatusText(status))}
	default:
		// A 1xx or a 3xx the client did not follow: odd enough to try again.
		return deliveryResult{kind: deliveryUnreachable, err: fmt.Errorf("unexpected HTTP %d", status)}
	}
}

// parseRetryAfter reads Retry-After (seconds or an HTTP date), at least one
// second and at most maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, time.Second), maxRetryAfter), true
}

// post signs the activity with its coop's key and sends it to inbox.
func (q *queue) post(ctx context.Context, act *cachedActivity, inbox string) deliveryResult {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(act.body))
	if err != nil {
		return deliveryResult{kind: deliveryRefused, err: fmt.Errorf("bad inbox URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/activity+json")
	req.Header.Set("Accept", "application/activity+json")
	req.Header.Set("User-Agent", q.ua)
	if err := SignRequest(req, act.body, act.keyID, act.key.Private, q.f.cfg.Now()); err != nil {
		return deliveryResult{kind: deliveryUnreachable, err: err}
	}
	resp, err := q.f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateAddress) {
			// The node may not reach that address: it never will.
			return deliveryResult{kind: deliveryRefused, err: err}
		}
		return deliveryResult{kind: deliveryUnreachable, err: err}
	}
	// Read a little of the body so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return classifyResponse(resp.StatusCode, resp.Header.Get("Retry-After"), time.Now())
}

// cachedActivity is what every delivery of one activity shares: its body and
// its coop's key. An Update to 1,000 followers reads them once, not 1,000
// times.
type cachedActivity struct {
	id    int64
	ready chan struct{}
	body  []byte
	keyID string
	key   *Key
	err   error
}

func (q *queue) loadActivity(ctx context.Context, id int64) (*cachedActivity, error) {
	var body, slug string
	err := q.f.db.QueryRow(ctx, `SELECT a.body, c.slug FROM activities a JOIN coops c ON c.id = a.coop_id
		WHERE a.id = $1`, id).Scan(&body, &slug)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("federation: read activity %d: %w", id, err)
	}
	key, err := q.f.keys.For(ctx, ActorPath(slug))
	if err != nil {
		return nil, err
	}
	return &cachedActivity{body: []byte(body), keyID: q.f.urls.KeyID(slug), key: key}, nil
}

// activityCache is a small LRU of activities being delivered. Concurrent
// misses on one id wait for a single load.
type activityCache struct {
	mu    sync.Mutex
	size  int
	order *list.List // of *cachedActivity, most recent first
	byID  map[int64]*list.Element
}

func newActivityCache(size int) *activityCache {
	return &activityCache{size: size, order: list.New(), byID: map[int64]*list.Element{}}
}

// seed puts a stored activity in the cache, unless it is there already.
func (c *activityCache) seed(id int64, body []byte, keyID string, key *Key) {
	a := &cachedActivity{id: id, ready: make(chan struct{}), body: body, keyID: keyID, key: key}
	close(a.ready)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byID[id]; ok {
		return
	}
	c.byID[id] = c.order.PushFront(a)
	for c.order.Len() > c.size {
		old := c.order.Remove(c.order.Back()).(*cachedActivity)
		delete(c.byID, old.id)
	}
}

func (c *activityCache) get(ctx context.Context, id int64, load func(context.Context, int64) (*cachedActivity, error)) (*cachedActivity, error) {
	c.mu.Lock()
	if el, ok := c.byID[id]; ok {
		c.order.MoveToFront(el)
		a := el.Value.(*cachedActivity)
		c.mu.Unlock()
		select {
		case <-a.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if a.err != nil {
			return nil, a.err
		}
		return a, nil
	}
	a := &cachedActivity{id: id, ready: make(chan struct{})}
	c.byID[id] = c.order.PushFront(a)
	for c.order.Len() > c.size {
		old := c.order.Remove(c.order.Back()).(*cachedActivity)
		delete(c.byID, old.id)
	}
	c.mu.Unlock()

	loaded, err := load(ctx, id)
	if err == nil {
		a.body, a.keyID, a.key = loaded.body, loaded.keyID, loaded.key
	}
	a.err = err
	close(a.ready)
	if err != nil {
		// Do not keep a failure: the next job loads again.
		c.mu.Lock()
		if el, ok := c.byID[id]; ok && el.Value == a {
			c.order.Remove(el)
			delete(c.byID, id)
		}
		c.mu.Unlock()
		return nil, err
	}
	return a, nil
}

// hostLimiter caps deliveries in flight per host in this process.
type hostLimiter struct {
	mu    sync.Mutex
	limit int
	hosts map[string]*hostSlots
}

type hostSlots struct {
	ch   chan struct{}
	refs int
}

func newHostLimiter(limit int) *hostLimiter {
	return &hostLimiter{limit: limit, hosts: map[string]*hostSlots{}}
}

// acquire takes a slot for host, waiting at most wait. release gives it back.
func (l *hostLimiter) acquire(ctx context.Context, host string, wait time.Duration) (release func(), ok bool) {
	l.mu.Lock()
	s := l.hosts[host]
	if s == nil {
		s = &hostSlots{ch: make(chan struct{}, l.limit)}
		l.hosts[host] = s
	}
	s.refs++
	l.mu.Unlock()

	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; l.unref(host, s) }, true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; l.unref(host, s) }, true
	case <-t.C:
	case <-ctx.Done():
	}
	l.unref(host, s)
	return nil, false
}

// unref forgets a host nobody is waiting for, so the map holds only the hosts
// being delivered to.
func (l *hostLimiter) unref(host string, s *hostSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(l.hosts, host)
	}
}
