package federation

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestPeerBackoffSchedule(t *testing.T) {
	s := defaultPeerSettings()
	for failures, want := range map[int]time.Duration{
		5: 10 * time.Minute, 6: 20 * time.Minute, 7: 40 * time.Minute, 9: 160 * time.Minute, 12: 12 * time.Hour, 40: 12 * time.Hour,
	} {
		if got := s.backoff(failures); got != want {
			t.Errorf("%d failures: %s, want %s", failures, got, want)
		}
	}
}

// A peer that keeps failing is held back as a whole: its jobs, the next
// activity's too, wait instead of trying; the admin's retry releases them.
func TestPeerBackoffAfterRepeatedFailures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		f := deliverFed(t, d, func(s *queueSettings) {
			s.peer.threshold = 2
			s.peer.backoffBase = time.Hour
		})
		coopID, pub := alpha(t, f)
		s := newSink(t, pub)
		s.setRespond(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
		follow(t, d, coopID, s, "a", false)
		queueToFollowers(t, f, coopID)
		startFed(t, f)
		ctx := context.Background()
		heldBack := func(n int) func() bool {
			return func() bool {
				ds, err := f.Deliveries(ctx, DeliveryFilter{Host: s.host()})
				if err != nil {
					t.Fatal(err)
				}
				held := 0
				for _, dl := range ds {
					if time.Until(dl.NextAttemptAt) > 50*time.Minute {
						held++
					}
				}
				return held == n
			}
		}
		waitFor(t, 10*time.Second, "job held back", heldBack(1))
		if n := s.count(); n != 2 {
			t.Fatalf("%d attempts before the back-off, want 2 (the threshold)", n)
		}
		// The next activity for that host waits too, without a try.
		queueToFollowers(t, f, coopID)
		waitFor(t, 10*time.Second, "second job held back", heldBack(2))
		if n := s.count(); n != 2 {
			t.Fatalf("%d attempts, want still 2", n)
		}
		ps, err := f.PeerHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].Failures != 2 || time.Until(ps[0].BackoffUntil) < 50*time.Minute ||
			ps[0].Pending != 2 || ps[0].LastError != "HTTP 502 Bad Gateway" || ps[0].LastFailureAt.IsZero() {
			t.Fatalf("peer health %+v", ps)
		}
		retrying, err := f.Deliveries(ctx, DeliveryFilter{State: DeliveryRetrying})
		if err != nil || len(retrying) != 1 || retrying[0].Attempt != 2 || retrying[0].LastError == "" {
			t.Fatalf("retrying deliveries %+v, %v", retrying, err)
		}
		pending, err := f.Deliveries(ctx, DeliveryFilter{State: DeliveryPending})
		if err != nil || len(pending) != 1 || pending[0].Attempt != 0 {
			t.Fatalf("pending deliveries %+v, %v", pending, err)
		}

		// The peer is back and the admin retries it: everything goes.
		s.setRespond(nil)
		if err := f.RetryPeer(ctx, s.host()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "held deliveries", func() bool { return s.count() == 4 })
		waitFor(t, 10*time.Second, "jobs completed", func() bool { return jobsLeft(t, f) == 0 })
		waitFor(t, 5*time.Second, "peer healthy", func() bool {
			ps, err := f.PeerHealth(ctx)
			return err == nil && len(ps) == 1 && ps[0].Failures == 0 && ps[0].BackoffUntil.IsZero() &&
				ps[0].Pending == 0 && !ps[0].LastSuccessAt.IsZero()
		})
	})
}

// When the back-off ends one job probes the host while the others wait;
// a failed probe doubles the back-off, a success clears it.
func TestPeerProbeAfterBackoff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		set := defaultPeerSettings()
		set.threshold, set.backoffBase, set.probeWait = 2, time.Minute, 10*time.Second
		b := newPeerBook(d, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), set)
		const host = "peer.example"

		if probe, wait := b.admit(ctx, host); probe || wait != 0 {
			t.Fatalf("healthy host: probe %v, wait %s", probe, wait)
		}
		b.failed(ctx, host, "HTTP 500")
		if _, wait := b.admit(ctx, host); wait != 0 {
			t.Fatalf("held back after one failure: %s", wait)
		}
		b.failed(ctx, host, "HTTP 500")
		if _, wait := b.admit(ctx, host); wait < time.Minute || wait > time.Minute+7*time.Second {
			t.Fatalf("after %d failures: wait %s, want about 1 min", set.threshold, wait)
		}
		// Another process sees the back-off in the database.
		other := newPeerBook(d, clock, b.log, set)
		if err := other.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, wait := other.admit(ctx, host); wait < time.Minute {
			t.Fatalf("other process: wait %s", wait)
		}

		advance(61 * time.Second)
		probe, wait := b.admit(ctx, host)
		if !probe || wait != 0 {
			t.Fatalf("back-off over: probe %v, wait %s", probe, wait)
		}
		if probe2, wait2 := b.admit(ctx, host); probe2 || wait2 < set.probeWait {
			t.Fatalf("during the probe: probe %v, wait %s", probe2, wait2)
		}
		b.failed(ctx, host, "dial tcp: connection refused")
		b.probed(host)
		if _, wait := b.admit(ctx, host); wait < 2*time.Minute {
			t.Fatalf("failed probe: wait %s, want the back-off doubled", wait)
		}

		advance(3 * time.Minute)
		if probe, _ := b.admit(ctx, host); !probe {
			t.Fatal("no probe after the second back-off")
		}
		b.succeeded(host)
		b.probed(host)
		if err := b.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if probe, wait := b.admit(ctx, host); probe || wait != 0 {
			t.Fatalf("after a success: probe %v, wait %s", probe, wait)
		}
		var failures int
		if err := d.QueryRow(ctx, `SELECT failures FROM peers WHERE host = $1`, host).Scan(&failures); err != nil || failures != 0 {
			t.Fatalf("failures in the database: %d, %v", failures, err)
		}
		if err := other.refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if _, wait := other.admit(ctx, host); wait != 0 {
			t.Fatalf("other process after the success: wait %s", wait)
		}
	})
}

// A success buffered before a failure must not wipe the failure out.
func TestPeerSuccessDoesNotClearLaterFailure(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		set := defaultPeerSettings()
		b := newPeerBook(d, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), set)
		other := newPeerBook(d, clock, b.log, set) // another process
		b.succeeded("peer.example")
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
		other.failed(ctx, "peer.example", "HTTP 500")
		if err := b.flush(ctx); err != nil {
			t.Fatal(err)
		}
		var failures int
		var ok time.Time
		err := d.QueryRow(ctx, `SELECT failures, last_success_at FROM peers WHERE host = 'peer.example'`).Scan(&failures, &ok)
		if err != nil || failures != 1 || !ok.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("failures %d, last success %v (%v): want 1 and the success recorded", failures, ok, err)
		}
		// A healthy host is not rewritten on every delivery.
		b.succeeded("steady.example")
		if err := b.flush(ctx); err != nil {
			t.Fatal(err)
		}
		b.succeeded("steady.example")
		b.mu.Lock()
		n := len(b.pendingOK)
		b.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d successes buffered for a host recorded a moment ago", n)
		}
	})
}
