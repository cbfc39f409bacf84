package federation

import (
	"context"
	"crypto/rsa"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// The delivery tests run a real queue over a real database against real
// HTTP sinks on 127.0.0.1 that verify every signature.

const deliverTestBase = "http://coop.example"

// deliverFed builds a Federation over d with the local coop "alpha" (set up
// on first use), loopback allowed and the queue's waits shrunk; tune may
// change the settings further. It is stopped when the test ends.
func deliverFed(t testing.TB, d *db.DB, tune func(*queueSettings)) *Federation {
	t.Helper()
	setUpAlpha(t, d)
	f, err := newDeliverFed(d)
	if err != nil {
		t.Fatal(err)
	}
	tuneFed(t, f, tune)
	return f
}

// newDeliverFed is New as the tests configure it.
func newDeliverFed(d *db.DB) (*Federation, error) {
	base, _ := url.Parse(deliverTestBase)
	return New(Config{
		DB: d, Directory: directory.NewStore(d, bcrypt.MinCost), BaseURL: base,
		AllowPrivateAddresses: true, Version: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

// tuneFed shrinks the queue's waits and stops f when the test ends.
func tuneFed(t testing.TB, f *Federation, tune func(*queueSettings)) {
	t.Helper()
	err := f.queue.configure(func(s *queueSettings) {
		s.retryUnit = time.Millisecond
		s.fetchPoll = 20 * time.Millisecond
		// A first attempt at commit that fails is River's after this.
		s.eagerGrace = time.Second
		s.hostWait = 200 * time.Millisecond
		s.peer.flushEvery = 20 * time.Millisecond
		s.peer.refreshEvery = 50 * time.Millisecond
		if tune != nil {
			tune(s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func setUpAlpha(t testing.TB, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	store := directory.NewStore(d, bcrypt.MinCost)
	if ok, _ := store.IsSetUp(ctx); ok {
		return
	}
	_, _, err := store.Setup(ctx, directory.SetupInput{
		CoopName: "Alpha Tech", Slug: "alpha", AdminName: "Ada", AdminEmail: "ada@alpha.example",
		Password: "correct horse battery",
	}, deliverTestBase)
	if err != nil {
		t.Fatal(err)
	}
}

// alpha returns the local coop's id and public key.
func alpha(t testing.TB, f *Federation) (int64, *rsa.PublicKey) {
	t.Helper()
	ctx := context.Background()
	c, err := f.dir.CoopBySlug(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.keys.For(ctx, ActorPath("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, &k.Private.PublicKey
}

func startFed(t testing.TB, f *Federation) {
	t.Helper()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// sink is a peer's inbox server. It checks every POST's signature against
// the coop's key and answers with respond (202 when nil).
type sink struct {
	srv     *httptest.Server
	pub     *rsa.PublicKey
	mu      sync.Mutex
	posts   []sinkPost
	bad     []string
	respond func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
}

type sinkPost struct {
	path string
	body string
	at   time.Time
}

func newSink(t testing.TB, pub *rsa.PublicKey) *sink {
	s := &sink{pub: pub}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	problem := s.check(r, body)
	s.mu.Lock()
	if problem != "" {
		s.bad = append(s.bad, problem)
	}
	s.posts = append(s.posts, sinkPost{path: r.URL.Path, body: string(body), at: time.Now()})
	n, respond := len(s.posts), s.respond
	s.mu.Unlock()
	if respond != nil {
		respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *sink) check(r *http.Request, body []byte) string {
	if r.Method != http.MethodPost {
		return "method " + r.Method
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/activity+json" {
		return "content type " + ct
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "coopnet/test (+"+deliverTestBase) {
		return "user agent " + ua
	}
	sig, err := ParseRequestSignature(r, body, nil, time.Now())
	if err != nil {
		return err.Error()
	}
	if sig.KeyID != deliverTestBase+"/coops/alpha#main-key" {
		return "key id " + sig.KeyID
	}
	if err := sig.Verify(s.pub); err != nil {
		return err.Error()
	}
	return ""
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

func (s *sink) snapshot() ([]sinkPost, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkPost(nil), s.posts...), append([]string(nil), s.bad...)
}

func (s *sink) setRespond(fn func(n int, w http.ResponseWriter, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.respond = fn
}

func (s *sink) host() string { return strings.TrimPrefix(s.srv.URL, "http://") }

// follow makes actor name on the sink an accepted follower of coop; with
// shared, the actor has the sink's /inbox as shared inbox.
func follow(t testing.TB, d *db.DB, coopID int64, s *sink, name string, shared bool) {
	t.Helper()
	followURL(t, d, coopID, s.srv.URL, name, shared, "accepted")
}

func followURL(t testing.TB, d *db.DB, coopID int64, base, name string, shared bool, state string) {
	t.Helper()
	ctx := context.Background()
	actor := base + "/users/" + name
	sharedInbox := ""
	if shared {
		sharedInbox = base + "/inbox"
	}
	host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	now := db.Now()
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO remote_actors (id, host, type, username, inbox, shared_inbox, fetched_at)
			VALUES ($1, $2, 'Person', $3, $4, $5, $6)`, actor, host, name, actor+"/inbox", sharedInbox, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO followers (coop_id, actor_id, follow_id, state, created_at)
			VALUES ($1, $2, $3, $4, $5)`, coopID, actor, actor+"#follow", state, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

var activitySeq sync.Map // per test name, for unique activity ids

// storeActivity records an activity of coop in the outbox and returns its
// row id and body.
func storeActivity(t testing.TB, d *db.DB, coopID int64) (int64, string) {
	t.Helper()
	ctx := context.Background()
	n, _ := activitySeq.LoadOrStore(t.Name(), new(int))
	*n.(*int)++
	aid := fmt.Sprintf("%s/activities/%s-%d", deliverTestBase, strings.ReplaceAll(t.Name(), "/", "-"), *n.(*int))
	body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":%q,"type":"Update","actor":"%s/coops/alpha","object":{"id":"%s/coops/alpha","type":"Organization","name":"Alpha Tech ü"}}`,
		aid, deliverTestBase, deliverTestBase)
	var id int64
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO activities (activity_id, coop_id, type, object_id, body, published_at)
			VALUES ($1, $2, 'Update', '', $3, $4) RETURNING id`, aid, coopID, body, db.Now()).Scan(&id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, body
}

// queueToFollowers stores an activity and queues it to the coop's followers
// in one transaction, as publishing does.
func queueToFollowers(t testing.TB, f *Federation, coopID int64) (int64, string) {
	t.Helper()
	id, body := storeActivity(t, f.db, coopID)
	ctx := context.Background()
	if err := f.db.Tx(ctx, func(tx *sql.Tx) error { return f.deliverToFollowers(ctx, tx, coopID, id) }); err != nil {
		t.Fatal(err)
	}
	return id, body
}

// waitFor polls cond every 10 ms until it holds, failing after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jobsLeft counts deliveries not finished (neither completed nor given up).
func jobsLeft(t testing.TB, f *Federation) int {
	t.Helper()
	ds, err := f.Deliveries(context.Background(), DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.State != DeliveryFailed {
			n++
		}
	}
	return n
}

func TestDeliverReachesEverySink(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		sinks := []*sink{newSink(t, pub), newSink(t, pub), newSink(t, pub)}
		for i, s := range sinks {
			follow(t, d, coopID, s, fmt.Sprintf("a%d", i), false)
			follow(t, d, coopID, s, fmt.Sprintf("b%d", i), false)
		}
		// Neither a pending follower nor a follower of another coop gets it.
		followURL(t, d, coopID, sinks[0].srv.URL, "pending", false, "pending")
		_, body := queueToFollowers(t, f, coopID)
		startFed(t, f)
		waitFor(t, 10*time.Second, "6 deliveries", func() bool {
			return sinks[0].count()+sinks[1].count()+sinks[2].count() >= 6
		})
		waitFor(t, 10*time.Second, "jobs completed", func() bool { return jobsLeft(t, f) == 0 })
		for i, s := range sinks {
			posts, bad := s.snapshot()
			if len(bad) > 0 {
				t.Errorf("sink %d: %v", i, bad)
			}
			paths := map[string]bool{}
			for _, p := range posts {
				paths[p.path] = true
				if p.body != body {
					t.Errorf("sink %d: body %s, want %s", i, p.body, body)
				}
			}
			want := map[string]bool{fmt.Sprintf("/users/a%d/inbox", i): true, fmt.Sprintf("/users/b%d/inbox", i): true}
			if len(posts) != 2 || len(paths) != 2 || !paths[fmt.Sprintf("/users/a%d/inbox", i)] || !paths[fmt.Sprintf("/users/b%d/inbox", i)] {
				t.Errorf("sink %d: posts to %v, want one to each of %v", i, paths, want)
			}
		}
		// Successes are recorded per peer.
		waitFor(t, 5*time.Second, "peer successes", func() bool {
			ps, err := f.PeerHealth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ok := 0
			for _, p := range ps {
				if !p.LastSuccessAt.IsZero() && p.Failures == 0 {
					ok++
				}
			}
			return ok == 3
		})
	})
}

func TestDeliverSharedInboxOncePerServer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		shared, personal := newSink(t, pub), newSink(t, pub)
		for _, name := range []string{"x", "y", "z"} {
			follow(t, d, coopID, shared, name, true)
		}
		follow(t, d, coopID, personal, "solo", false)
		queueToFollowers(t, f, coopID)
		startFed(t, f)
		waitFor(t, 10*time.Second, "jobs completed", func() bool { return jobsLeft(t, f) == 0 })
		posts, bad := shared.snapshot()
		if len(posts) != 1 || posts[0].path != "/inbox" || len(bad) > 0 {
			t.Fatalf("shared inbox server got %d posts (%v), problems %v; want 1 to /inbox", len(posts), posts, bad)
		}
		if n := personal.count(); n != 1 {
			t.Fatalf("personal inbox got %d posts, want 1", n)
		}
	})
}

// failFirst answers status to the first request and 202 to the others.
func failFirst(status int) func(n int, w http.ResponseWriter, r *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(status)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func TestDeliverRetriesAfterServerError(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		s.setRespond(failFirst(http.StatusInternalServerError))
		follow(t, d, coopID, s, "a", false)
		_, body := queueToFollowers(t, f, coopID)
		startFed(t, f)
		waitFor(t, 10*time.Second, "second attempt", func() bool { return s.count() >= 2 })
		waitFor(t, 10*time.Second, "job completed", func() bool { return jobsLeft(t, f) == 0 })
		posts, bad := s.snapshot()
		if len(posts) != 2 || posts[1].body != body || len(bad) > 0 {
			t.Fatalf("posts %d, problems %v", len(posts), bad)
		}
		// The success after the failure resets the peer.
		waitFor(t, 5*time.Second, "peer reset", func() bool {
			ps, err := f.PeerHealth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return len(ps) == 1 && ps[0].Failures == 0 && !ps[0].LastSuccessAt.IsZero() && ps[0].LastError != ""
		})
	})
}

func TestDeliverRefusalIsFinal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		notFound, unauthorized, gone := newSink(t, pub), newSink(t, pub), newSink(t, pub)
		for s, code := range map[*sink]int{notFound: 404, unauthorized: 401, gone: 410} {
			s.setRespond(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
			follow(t, d, coopID, s, "a", false)
		}
		queueToFollowers(t, f, coopID)
		startFed(t, f)
		ctx := context.Background()
		var failed []Delivery
		waitFor(t, 10*time.Second, "3 failed deliveries", func() bool {
			var err error
			failed, err = f.Deliveries(ctx, DeliveryFilter{State: DeliveryFailed})
			if err != nil {
				t.Fatal(err)
			}
			return len(failed) == 3
		})
		// Final: the jobs are cancelled after one attempt each.
		for _, s := range []*sink{notFound, unauthorized, gone} {
			if n := s.count(); n != 1 {
				t.Errorf("%s got %d posts, want 1", s.host(), n)
			}
		}
		for _, dl := range failed {
			if dl.Attempt != 1 || !strings.Contains(dl.LastError, "refused: HTTP 4") || !dl.NextAttemptAt.IsZero() {
				t.Errorf("failed delivery %+v", dl)
			}
		}
		// The admin view filters by host; an admin retry sends it again.
		mine, err := f.Deliveries(ctx, DeliveryFilter{Host: notFound.host(), State: DeliveryFailed})
		if err != nil || len(mine) != 1 || mine[0].Inbox != notFound.srv.URL+"/users/a/inbox" {
			t.Fatalf("deliveries to %s: %+v, %v", notFound.host(), mine, err)
		}
		notFound.setRespond(nil)
		if err := f.RetryDelivery(ctx, mine[0].JobID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "retried delivery", func() bool { return notFound.count() == 2 })
		waitFor(t, 10*time.Second, "retried delivery done", func() bool {
			ds, err := f.Deliveries(ctx, DeliveryFilter{Host: notFound.host()})
			return err == nil && len(ds) == 0
		})
		if err := f.RetryDelivery(ctx, 987654); err != ErrDeliveryNotFound {
			t.Fatalf("retry of a missing job: %v", err)
		}
	})
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		s.setRespond(func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		follow(t, d, coopID, s, "a", false)
		queueToFollowers(t, f, coopID)
		startFed(t, f)
		waitFor(t, 10*time.Second, "second attempt", func() bool { return s.count() >= 2 })
		posts, _ := s.snapshot()
		if gap := posts[1].at.Sub(posts[0].at); gap < 900*time.Millisecond {
			t.Fatalf("second attempt %s after the 429, want about 1 s (Retry-After)", gap)
		}
		waitFor(t, 10*time.Second, "job completed", func() bool { return jobsLeft(t, f) == 0 })
		// A snooze is not a failed attempt.
		res, err := f.queue.client.JobList(context.Background(), river.NewJobListParams().States(rivertype.JobStateCompleted))
		if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Attempt != 1 || len(res.Jobs[0].Errors) != 0 {
			t.Fatalf("completed jobs %+v, %v: want one, at attempt 1, without errors", res, err)
		}
		ps, err := f.PeerHealth(context.Background())
		if err != nil || len(ps) != 1 || ps[0].Failures != 0 || !strings.Contains(ps[0].LastError, "429") {
			t.Fatalf("peer after 429: %+v, %v", ps, err)
		}
	})
}

func TestDeliverSkipsBlockedHosts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, nil)
		coopID, pub := alpha(t, f)
		open, blocked, blockedLater := newSink(t, pub), newSink(t, pub), newSink(t, pub)
		follow(t, d, coopID, open, "a", false)
		follow(t, d, coopID, blocked, "b", true)
		follow(t, d, coopID, blockedLater, "c", false)
		block := func(host string) {
			if _, err := d.Exec(context.Background(), `INSERT INTO federation_policy (host, action, created_at) VALUES ($1, 'block', $2)`,
				host, db.Now()); err != nil {
				t.Fatal(err)
			}
		}
		block(blocked.host())
		queueToFollowers(t, f, coopID)
		// Blocked after the jobs were queued: the worker refuses too.
		block(blockedLater.host())
		startFed(t, f)
		waitFor(t, 10*time.Second, "jobs finished", func() bool { return jobsLeft(t, f) == 0 })
		if open.count() != 1 || blocked.count() != 0 || blockedLater.count() != 0 {
			t.Fatalf("posts: open %d, blocked %d, blocked later %d; want 1, 0, 0",
				open.count(), blocked.count(), blockedLater.count())
		}
		ps, err := f.PeerHealth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Host == blockedLater.host() && (!p.Refused || p.Failed != 1) {
				t.Errorf("blocked peer: %+v", p)
			}
		}
	})
}

func TestDeliverClassifyResponse(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       deliveryKind
		wait       time.Duration
	}{
		{200, "", deliveryDone, 0},
		{202, "", deliveryDone, 0},
		{204, "", deliveryDone, 0},
		{400, "", deliveryRefused, 0},
		{401, "", deliveryRefused, 0},
		{403, "", deliveryRefused, 0},
		{404, "", deliveryRefused, 0},
		{410, "", deliveryRefused, 0},
		{413, "", deliveryRefused, 0},
		{408, "", deliveryUnreachable, 0},
		{429, "", deliveryUnreachable, 0},
		{429, "30", deliveryThrottled, 30 * time.Second},
		{429, "0", deliveryThrottled, time.Second},
		{429, "86400", deliveryThrottled, time.Hour},
		{503, now.Add(2 * time.Minute).Format(http.TimeFormat), deliveryThrottled, 2 * time.Minute},
		{503, "soon", deliveryUnreachable, 0},
		{500, "", deliveryUnreachable, 0},
		{502, "5", deliveryUnreachable, 0},
		{302, "", deliveryUnreachable, 0},
	} {
		got := classifyResponse(tc.status, tc.retryAfter, now)
		if got.kind != tc.want || got.retryAfter != tc.wait || (got.kind != deliveryDone && got.err == nil) {
			t.Errorf("%d %q: got %+v, want kind %d wait %s", tc.status, tc.retryAfter, got, tc.want, tc.wait)
		}
	}
}

func TestDeliveryPolicy(t *testing.T) {
	block := deliveryPolicy{block: map[string]bool{"bad.example": true, "127.0.0.1:9000": true, "10.0.0.1": true}}
	for host, want := range map[string]bool{
		"bad.example": true, "sub.bad.example": true, "bad.example:8443": true, "a.b.bad.example": true,
		"notbad.example": false, "good.example": false, "example": false,
		"127.0.0.1:9000": true, "127.0.0.1:9001": false, "10.0.0.1:80": true, "0.0.1": false,
	} {
		if got := block.refuses(host); got != want {
			t.Errorf("%s: got %v, want %v", host, got, want)
		}
	}
	allow := deliveryPolicy{allowlist: true, allow: map[string]bool{"friend.example": true, "bad.friend.example": false},
		block: map[string]bool{"bad.friend.example": true}}
	for host, want := range map[string]bool{
		"friend.example": false, "www.friend.example:443": false, "stranger.example": true, "bad.friend.example": true,
	} {
		if got := allow.refuses(host); got != want {
			t.Errorf("allowlist, %s: got %v, want %v", host, got, want)
		}
	}
	if (deliveryPolicy{}).refuses("bad.example") {
		t.Error("empty policy refuses")
	}
}

func TestDeliverTargets(t *testing.T) {
	f := &Federation{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	policy := deliveryPolicy{block: map[string]bool{"bad.example": true}}
	got := f.deliveryTargets([]string{
		"https://a.example/u/1/inbox", "https://a.example/u/2/inbox", "https://a.example/u/3/inbox",
		"https://B.example/inbox", "https://a.example/u/1/inbox", "https://c.example/u/1/inbox",
		"https://c.example/u/2/inbox", "https://bad.example/inbox", "ftp://d.example/inbox", "::",
	}, policy)
	want := []deliveryTarget{
		{"https://a.example/u/1/inbox", "a.example"}, {"https://B.example/inbox", "b.example"},
		{"https://c.example/u/1/inbox", "c.example"}, {"https://a.example/u/2/inbox", "a.example"},
		{"https://c.example/u/2/inbox", "c.example"}, {"https://a.example/u/3/inbox", "a.example"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("targets\n got %v\nwant %v", got, want)
	}
}

func TestDeliverHostLimiter(t *testing.T) {
	l := newHostLimiter(2)
	ctx := context.Background()
	r1, ok1 := l.acquire(ctx, "a", time.Millisecond)
	_, ok2 := l.acquire(ctx, "a", time.Millisecond)
	if !ok1 || !ok2 {
		t.Fatal("first two slots refused")
	}
	if _, ok := l.acquire(ctx, "a", 10*time.Millisecond); ok {
		t.Fatal("third slot granted")
	}
	if _, ok := l.acquire(ctx, "b", time.Millisecond); !ok {
		t.Fatal("another host shares the limit")
	}
	done := make(chan bool)
	go func() { _, ok := l.acquire(ctx, "a", 5*time.Second); done <- ok }()
	r1()
	if !<-done {
		t.Fatal("a released slot was not handed on")
	}
}

func TestDeliverActivityCacheLoadsOnce(t *testing.T) {
	c := newActivityCache(2)
	var mu sync.Mutex
	loads := map[int64]int{}
	load := func(_ context.Context, id int64) (*cachedActivity, error) {
		mu.Lock()
		loads[id]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // keep the load open while others ask
		if id == 99 {
			return nil, sql.ErrNoRows
		}
		return &cachedActivity{body: []byte(fmt.Sprint(id))}, nil
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			a, err := c.get(ctx, 1, load)
			if err != nil || string(a.body) != "1" {
				t.Errorf("get: %v", err)
			}
		})
	}
	wg.Wait()
	if loads[1] != 1 {
		t.Fatalf("loaded %d times, want 1", loads[1])
	}
	for _, id := range []int64{2, 3, 1} {
		if _, err := c.get(ctx, id, load); err != nil {
			t.Fatal(err)
		}
	}
	if loads[1] != 2 {
		t.Fatalf("evicted entry: loaded %d times, want 2", loads[1])
	}
	for range 2 {
		if _, err := c.get(ctx, 99, load); err != sql.ErrNoRows {
			t.Fatalf("missing activity: %v", err)
		}
	}
	if loads[99] != 2 {
		t.Fatalf("a failed load was cached")
	}
}
