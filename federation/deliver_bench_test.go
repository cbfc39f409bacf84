package federation

import (
	"context"
	"crypto/rsa"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// BenchmarkFanOut measures one activity delivered to every follower, from
// the transaction that queues it to the last signed POST verified by the
// receiving sinks, with the production queue settings.
//
//	go test ./federation -run '^$' -bench FanOut -benchtime 20x
//
// Shapes: 1,000 followers on 1,000 distinct hosts (one server listening on
// 1,000 loopback ports: each host:port is a peer of its own for the queue,
// the per-host limits and the HTTP client's connection pools); and 1,000
// followers on 100 hosts that have shared inboxes (100 POSTs); and, for
// the per-host limit, the same 1,000 followers without shared inboxes
// (1,000 POSTs, 10 per host).
func BenchmarkFanOut(b *testing.B) {
	shapes := []struct {
		name           string
		hosts, perHost int
		shared         bool
	}{
		{"1000-hosts", 1000, 1, false},
		{"100-hosts-shared-inbox", 100, 10, true},
		{"100-hosts-personal-inboxes", 100, 10, false},
	}
	for _, dialect := range []db.Dialect{db.SQLite, db.Postgres} {
		for _, shape := range shapes {
			b.Run(string(dialect)+"/"+shape.name, func(b *testing.B) {
				var d *db.DB
				if dialect == db.SQLite {
					d = testdb.SQLite(b)
				} else {
					d = testdb.Postgres(b)
				}
				f := deliverFed(b, d, func(s *queueSettings) { *s = defaultQueueSettings(dialect) })
				coopID, pub := alpha(b, f)
				fs := newFanoutSinks(b, pub, shape.hosts)
				fs.follow(b, d, coopID, shape.perHost, shape.shared)
				startFed(b, f)
				want := int64(shape.hosts)
				if !shape.shared {
					want *= int64(shape.perHost)
				}
				// fanOut queues the activity to every follower and waits for
				// the last POST.
				var queueing time.Duration // inside the publishing transaction
				fanOut := func(id int64) {
					ctx := context.Background()
					start := time.Now()
					if err := d.Tx(ctx, func(tx *sql.Tx) error { return f.deliverToFollowers(ctx, tx, coopID, id) }); err != nil {
						b.Fatal(err)
					}
					queueing += time.Since(start)
					select {
					case <-fs.done:
					case <-time.After(time.Minute):
						b.Fatalf("%d of %d delivered after a minute", fs.got.Load(), want)
					}
				}
				id, _ := storeActivity(b, d, coopID)
				fs.expect(want)
				fanOut(id) // warm up: the key, the connections
				queueing = 0
				for b.Loop() {
					b.StopTimer()
					id, _ := storeActivity(b, d, coopID)
					fs.expect(want)
					b.StartTimer()
					fanOut(id)
				}
				b.StopTimer()
				b.ReportMetric(float64(queueing.Microseconds())/1000/float64(b.N), "ms-queueing/op")
				if n := fs.bad.Load(); n > 0 {
					b.Fatalf("%d deliveries failed verification", n)
				}
			})
		}
	}
}

// fanoutSinks is one HTTP server on many loopback ports; each POST's
// signature is verified before it counts.
type fanoutSinks struct {
	pub   *rsa.PublicKey
	urls  []string
	got   atomic.Int64
	want  atomic.Int64
	bad   atomic.Int64
	done  chan struct{}
	fired atomic.Bool
}

func newFanoutSinks(b *testing.B, pub *rsa.PublicKey, hosts int) *fanoutSinks {
	fs := &fanoutSinks{pub: pub}
	srv := &http.Server{Handler: http.HandlerFunc(fs.serve), ReadHeaderTimeout: 10 * time.Second}
	for range hosts {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		fs.urls = append(fs.urls, "http://"+l.Addr().String())
		go srv.Serve(l) //nolint:errcheck // ends with Close
	}
	b.Cleanup(func() { srv.Close() })
	return fs
}

func (fs *fanoutSinks) expect(n int64) {
	fs.got.Store(0)
	fs.want.Store(n)
	fs.fired.Store(false)
	fs.done = make(chan struct{})
}

func (fs *fanoutSinks) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sig, err := ParseRequestSignature(r, body, nil, time.Now())
	if err == nil {
		err = sig.Verify(fs.pub)
	}
	if err != nil {
		fs.bad.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	if fs.got.Add(1) == fs.want.Load() && fs.fired.CompareAndSwap(false, true) {
		close(fs.done)
	}
}

// follow adds perHost followers on every sink host, in one transaction.
func (fs *fanoutSinks) follow(b *testing.B, d *db.DB, coopID int64, perHost int, shared bool) {
	ctx := context.Background()
	now := db.Now()
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		for _, base := range fs.urls {
			for j := range perHost {
				actor := fmt.Sprintf("%s/users/u%d", base, j)
				sharedInbox := ""
				if shared {
					sharedInbox = base + "/inbox"
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO remote_actors (id, host, type, inbox, shared_inbox, fetched_at)
					VALUES ($1, $2, 'Person', $3, $4, $5)`, actor, base[len("http://"):], actor+"/inbox", sharedInbox, now); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO followers (coop_id, actor_id, follow_id, state, created_at)
					VALUES ($1, $2, $3, 'accepted', $4)`, coopID, actor, actor+"#follow", now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
