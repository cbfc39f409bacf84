package federation

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/migrations"
)

func TestQueueRetrySchedule(t *testing.T) {
	p := &deliveryRetryPolicy{unit: time.Second}
	noJitter := func(int) int { return 0 }
	fullJitter := func(n int) int { return n - 1 }
	for attempt, want := range map[int]time.Duration{1: 16 * time.Second, 2: 31 * time.Second, 5: 640 * time.Second, 15: 50640 * time.Second} {
		if got := p.delay(attempt, noJitter); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
	// 16 attempts: 15 waits, which must span two to three days, as
	// Mastodon's do, whatever the jitter.
	var least, most time.Duration
	for n := 1; n < deliverMaxAttempts; n++ {
		least += p.delay(n, noJitter)
		most += p.delay(n, fullJitter)
	}
	if least < 48*time.Hour || most > 72*time.Hour {
		t.Fatalf("retries span %s to %s, want within 2-3 days", least, most)
	}
	if got := p.NextRetry(&rivertype.JobRow{Attempt: 1}); time.Until(got) < 15*time.Second {
		t.Fatalf("next retry %s", time.Until(got))
	}
}

func TestQueueConfigureOnlyBeforeStart(t *testing.T) {
	d := testdb.SQLite(t)
	f := deliverFed(t, d, nil)
	if err := f.ConfigureDelivery(DeliveryOptions{Workers: 8, PerHost: 2}); err != nil {
		t.Fatal(err)
	}
	if f.queue.set.workers != 8 || f.queue.hosts.limit != 2 {
		t.Fatalf("options not applied: %+v", f.queue.set)
	}
	startFed(t, f)
	if err := f.ConfigureDelivery(DeliveryOptions{Workers: 4}); err == nil {
		t.Fatal("options changed while running")
	}
}

// Jobs are rows: queued by one process that never ran them, or interrupted
// by a stop, they are delivered by the next.
func TestQueueJobsSurviveRestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		first := deliverFed(t, d, nil)
		coopID, pub := alpha(t, first)
		waiting, slow := newSink(t, pub), newSink(t, pub)
		follow(t, d, coopID, waiting, "a", false)
		queueToFollowers(t, first, coopID) // never started
		if err := first.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}

		// A second node starts, delivers, and is stopped while a delivery
		// hangs: the interrupted job goes back to the queue.
		second := deliverFed(t, d, nil)
		hung := make(chan struct{}, 1)
		slow.setRespond(func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				hung <- struct{}{}
				<-r.Context().Done() // hangs until the node gives up on it
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		startFed(t, second)
		waitFor(t, 10*time.Second, "queued delivery", func() bool { return waiting.count() == 1 })
		follow(t, d, coopID, slow, "b", false)
		id, _ := storeActivity(t, d, coopID)
		if err := d.Tx(context.Background(), func(tx *sql.Tx) error {
			return second.deliverTo(context.Background(), tx, coopID, id, []string{slow.srv.URL + "/users/b/inbox"})
		}); err != nil {
			t.Fatal(err)
		}
		<-hung
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := second.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}

		third := deliverFed(t, d, nil)
		startFed(t, third)
		waitFor(t, 10*time.Second, "interrupted delivery", func() bool { return slow.count() >= 2 })
		waitFor(t, 10*time.Second, "jobs completed", func() bool { return jobsLeft(t, third) == 0 })
		if waiting.count() != 1 {
			t.Fatalf("first delivery sent %d times", waiting.count())
		}
	})
}

// Two processes sharing one PostgreSQL: both start at once (River's tables
// are created once, under the advisory lock), both work the queue, and
// every delivery is made exactly once.
func TestQueueExactlyOnceAcrossProcessesPostgres(t *testing.T) {
	u := testdb.PostgresURL(t)
	dsn := testdb.WithSchema(t, u, testdb.NewSchema(t, u))
	ctx := context.Background()
	open := func() *db.DB {
		d, err := db.Open(ctx, dsn, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	d1, d2 := open(), open()
	if _, err := migrations.Apply(ctx, d1); err != nil {
		t.Fatal(err)
	}
	setUpAlpha(t, d1)
	feds := make([]*Federation, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, d := range []*db.DB{d1, d2} {
		wg.Go(func() { feds[i], errs[i] = newDeliverFed(d) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("process %d: %v", i, err)
		}
		tuneFed(t, feds[i], nil)
	}
	coopID, pub := alpha(t, feds[0])
	const hosts, perHost = 30, 10
	sinks := make([]*sink, hosts)
	for i := range sinks {
		sinks[i] = newSink(t, pub)
		for j := range perHost {
			follow(t, d1, coopID, sinks[i], fmt.Sprintf("u%d", j), false)
		}
	}
	startFed(t, feds[0])
	startFed(t, feds[1])
	queueToFollowers(t, feds[0], coopID)
	total := func() int {
		n := 0
		for _, s := range sinks {
			n += s.count()
		}
		return n
	}
	waitFor(t, 20*time.Second, "all deliveries", func() bool { return total() >= hosts*perHost })
	waitFor(t, 20*time.Second, "jobs completed", func() bool { return jobsLeft(t, feds[0]) == 0 })
	for i, s := range sinks {
		posts, bad := s.snapshot()
		perPath := map[string]int{}
		for _, p := range posts {
			perPath[p.path]++
		}
		if len(posts) != perHost || len(perPath) != perHost || len(bad) > 0 {
			t.Errorf("sink %d: %d posts to %d inboxes (%v), problems %v; want one to each of %d", i, len(posts), len(perPath), perPath, bad, perHost)
		}
	}
	res, err := feds[0].queue.client.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateCompleted).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	workedBy := map[string]int{}
	for _, j := range res.Jobs {
		if len(j.AttemptedBy) > 0 {
			workedBy[j.AttemptedBy[len(j.AttemptedBy)-1]]++
		}
	}
	if len(res.Jobs) != hosts*perHost || len(workedBy) != 2 {
		t.Fatalf("%d completed jobs, worked by %v: want %d, worked by both processes", len(res.Jobs), workedBy, hosts*perHost)
	}
}
