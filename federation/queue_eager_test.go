package federation

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// jobRows counts River's rows, completed ones included (River keeps those an
// hour; a job done at commit leaves none).
func jobRows(t testing.TB, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEagerDeliveryRunsAtCommit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		// River would find nothing for an hour: only the run at commit can
		// deliver.
		f := deliverFed(t, d, func(s *queueSettings) {
			s.fetchPoll = time.Hour
			s.eagerGrace = time.Hour
		})
		coopID, pub := alpha(t, f)
		a, b := newSink(t, pub), newSink(t, pub)
		follow(t, d, coopID, a, "a", false)
		follow(t, d, coopID, b, "b", false)
		startFed(t, f)
		_, body := queueToFollowers(t, f, coopID)
		waitFor(t, 10*time.Second, "both deliveries", func() bool { return a.count() == 1 && b.count() == 1 })
		waitFor(t, 10*time.Second, "the jobs' rows deleted", func() bool { return jobRows(t, d) == 0 })
		for _, s := range []*sink{a, b} {
			posts, bad := s.snapshot()
			if len(bad) > 0 || posts[0].body != body {
				t.Fatalf("sink got %+v (bad: %v)", posts, bad)
			}
		}
	})
}

func TestEagerFailureLeftToRiver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		const grace = 300 * time.Millisecond
		f := deliverFed(t, d, func(s *queueSettings) { s.eagerGrace = grace })
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		s.setRespond(failFirst(http.StatusBadGateway))
		follow(t, d, coopID, s, "a", false)
		startFed(t, f)
		queued := time.Now()
		queueToFollowers(t, f, coopID)
		waitFor(t, 10*time.Second, "the retry", func() bool { return s.count() == 2 })
		waitFor(t, 10*time.Second, "the job completed", func() bool { return jobsLeft(t, f) == 0 })
		posts, _ := s.snapshot()
		// River took the job only when the grace was over: the failed first
		// attempt was not retried at once.
		if after := posts[1].at.Sub(queued); after < grace {
			t.Fatalf("retried %s after the job was queued, before the grace (%s) was over", after, grace)
		}
		// River ran it, so its completed row is there, with River's attempt.
		var state string
		var attempt int
		if err := d.QueryRow(context.Background(), `SELECT state, attempt FROM river_job`).Scan(&state, &attempt); err != nil {
			t.Fatal(err)
		}
		if state != "completed" || attempt != 1 {
			t.Fatalf("job %s after %d attempts, want completed after River's one", state, attempt)
		}
	})
}

func TestEagerRefusalRecordedAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, func(s *queueSettings) { s.eagerGrace = time.Hour })
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		s.setRespond(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
		follow(t, d, coopID, s, "a", false)
		startFed(t, f)
		queueToFollowers(t, f, coopID)
		// Not an hour later: the refusal goes to River at once, which meets
		// it again and records it for the admin.
		waitFor(t, 10*time.Second, "the refusal recorded", func() bool {
			ds, err := f.Deliveries(context.Background(), DeliveryFilter{State: DeliveryFailed})
			return err == nil && len(ds) == 1 && ds[0].LastError != ""
		})
		if n := s.count(); n != 2 {
			t.Fatalf("%d posts, want 2 (at commit, then River's)", n)
		}
	})
}

func TestEagerLargeFanOutGoesThroughRiver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, func(s *queueSettings) {
			s.eagerMax = 2
			s.eagerGrace = time.Hour // a job run at commit by mistake would stay an hour
		})
		coopID, pub := alpha(t, f)
		var sinks []*sink
		for _, name := range []string{"a", "b", "c"} {
			s := newSink(t, pub)
			follow(t, d, coopID, s, name, false)
			sinks = append(sinks, s)
		}
		startFed(t, f)
		queueToFollowers(t, f, coopID)
		waitFor(t, 10*time.Second, "every delivery", func() bool {
			return sinks[0].count() == 1 && sinks[1].count() == 1 && sinks[2].count() == 1
		})
		waitFor(t, 10*time.Second, "the jobs completed", func() bool { return jobsLeft(t, f) == 0 })
		if n := jobRows(t, d); n != 3 {
			t.Fatalf("%d job rows, want River's 3 completed ones", n)
		}
	})
}

func TestEagerNotBeforeStart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		// A process that queues without running the queue (a command that
		// exits) leaves its jobs available to whichever process runs it.
		f := deliverFed(t, d, func(s *queueSettings) { s.eagerGrace = time.Hour })
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		follow(t, d, coopID, s, "a", false)
		queueToFollowers(t, f, coopID)
		startFed(t, f)
		waitFor(t, 10*time.Second, "the delivery", func() bool { return s.count() == 1 })
	})
}

func TestEagerHeldBackGoesToRiver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, func(s *queueSettings) {
			s.perHost = 1
			s.hostWait = 50 * time.Millisecond
			s.eagerGrace = time.Hour // only River can send a job held back
		})
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		release := make(chan struct{})
		s.setRespond(func(n int, w http.ResponseWriter, _ *http.Request) {
			if n == 1 {
				<-release // the first holds the host's one slot
			}
			w.WriteHeader(http.StatusAccepted)
		})
		follow(t, d, coopID, s, "a", false)
		startFed(t, f)
		queueToFollowers(t, f, coopID)
		waitFor(t, 10*time.Second, "the first delivery in flight", func() bool { return s.count() == 1 })
		// The second finds the slot taken at commit, and is handed to River.
		queueToFollowers(t, f, coopID)
		// River fetching it sets attempted_at, which the run at commit
		// never does; an hour's grace would keep River away otherwise.
		waitFor(t, 10*time.Second, "the second job handed to River", func() bool {
			var n int
			err := d.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE attempted_at IS NOT NULL`).Scan(&n)
			return err == nil && n == 1
		})
		close(release)
		waitFor(t, 10*time.Second, "both deliveries", func() bool { return s.count() == 2 })
	})
}

func TestActivityCacheSeed(t *testing.T) {
	c := newActivityCache(2)
	key := &Key{}
	c.seed(1, []byte(`{"id":"a"}`), "k#main-key", key)
	loads := 0
	load := func(context.Context, int64) (*cachedActivity, error) {
		loads++
		return &cachedActivity{body: []byte(`{"id":"loaded"}`)}, nil
	}
	a, err := c.get(context.Background(), 1, load)
	if err != nil || string(a.body) != `{"id":"a"}` || a.keyID != "k#main-key" || a.key != key || loads != 0 {
		t.Fatalf("seeded activity: %+v, %v, %d loads", a, err, loads)
	}
	c.seed(1, []byte(`{"id":"other"}`), "x", nil) // there already: kept
	if a, _ := c.get(context.Background(), 1, load); string(a.body) != `{"id":"a"}` {
		t.Fatalf("a second seed replaced the first: %s", a.body)
	}
	c.seed(2, []byte(`{}`), "", nil)
	c.seed(3, []byte(`{}`), "", nil) // over the size: the oldest goes
	if _, err := c.get(context.Background(), 1, load); err != nil || loads != 1 {
		t.Fatalf("after eviction, %d loads (err %v), want 1", loads, err)
	}
}
