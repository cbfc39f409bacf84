package directory

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// Tests of the change feed itself: what records a change, and how the
// cursor reads the feed, gaps included. The Directory's tests are in
// listing_test.go.

// feedChanges returns the coop ids of the changes after seq, in order.
func feedChanges(t *testing.T, d *db.DB, after int64) []int64 {
	t.Helper()
	rows, err := d.Query(context.Background(), `SELECT coop_id FROM directory_changes WHERE seq > $1 ORDER BY seq`, after)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func lastSeq(t *testing.T, d *db.DB) int64 {
	t.Helper()
	var seq int64
	if err := d.QueryRow(context.Background(), `SELECT COALESCE(MAX(seq), 0) FROM directory_changes`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

func testRemoteCoop(host, slug string) RemoteCoop {
	return RemoteCoop{
		ActorID: "https://" + host + "/coops/" + slug,
		Coop:    Coop{Slug: slug, Name: "Coop " + slug, Discoverable: true},
	}
}

func testRemoteService(host, slug, id string) RemoteService {
	return RemoteService{
		ObjectID: "https://" + host + "/coops/" + slug + "/services/" + id,
		Service:  Service{Title: "Service " + id, Category: "hosting", Pricing: "hourly", Active: true},
	}
}

// TestRecordChange checks that every write that changes what a directory
// shows records exactly one change of the right coop, and wakes the
// directory; and that a write that changes nothing records nothing.
func TestRecordChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		var local Coop
		var svc Service
		var remote int64
		steps := []struct {
			name  string
			write func() (int64, error) // returns the coop expected, or 0 for no change
		}{
			{"create coop", func() (int64, error) {
				var err error
				local, err = s.CreateCoop(ctx, Coop{Slug: "alpha", Name: "Alpha", Discoverable: true})
				return local.ID, err
			}},
			{"update coop", func() (int64, error) {
				local.Summary = "Changed"
				_, err := s.UpdateCoop(ctx, local)
				return local.ID, err
			}},
			{"set logo", func() (int64, error) {
				return local.ID, s.SetLogo(ctx, local.ID, "image/png", []byte("png"))
			}},
			{"delete logo", func() (int64, error) { return local.ID, s.DeleteLogo(ctx, local.ID) }},
			{"delete no logo", func() (int64, error) { return 0, s.DeleteLogo(ctx, local.ID) }},
			{"create service", func() (int64, error) {
				var err error
				svc, err = s.CreateService(ctx, local.ID, Service{Title: "Hosting", Category: "hosting", Pricing: "hourly", Active: true})
				return local.ID, err
			}},
			{"update service", func() (int64, error) {
				svc.Active = false
				_, err := s.UpdateService(ctx, svc)
				return local.ID, err
			}},
			{"delete service", func() (int64, error) { return local.ID, s.DeleteService(ctx, local.ID, svc.ID) }},
			{"upsert remote coop", func() (int64, error) {
				var err error
				remote, err = s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("beta.example", "beta"))
				return remote, err
			}},
			{"upsert remote service", func() (int64, error) {
				_, err := s.UpsertRemoteService(ctx, nil, remote, testRemoteService("beta.example", "beta", "1"))
				return remote, err
			}},
			{"delete remote service", func() (int64, error) {
				_, err := s.DeleteRemoteService(ctx, nil, remote, "https://beta.example/coops/beta/services/1")
				return remote, err
			}},
			{"delete unknown remote service", func() (int64, error) {
				_, err := s.DeleteRemoteService(ctx, nil, remote, "https://beta.example/coops/beta/services/1")
				return 0, err
			}},
			{"upsert remote service again", func() (int64, error) {
				_, err := s.UpsertRemoteService(ctx, nil, remote, testRemoteService("beta.example", "beta", "2"))
				return remote, err
			}},
			{"prune remote services", func() (int64, error) {
				_, err := s.PruneRemoteServices(ctx, nil, remote, nil)
				return remote, err
			}},
			{"prune nothing", func() (int64, error) {
				_, err := s.PruneRemoteServices(ctx, nil, remote, nil)
				return 0, err
			}},
			{"set unreachable", func() (int64, error) {
				now := time.Now()
				return remote, s.SetUnreachable(ctx, remote, &now)
			}},
			{"clear unreachable", func() (int64, error) { return remote, s.SetUnreachable(ctx, remote, nil) }},
			{"delete remote coop", func() (int64, error) {
				_, err := s.DeleteRemoteCoop(ctx, nil, "https://beta.example/coops/beta")
				return remote, err
			}},
			{"delete unknown remote coop", func() (int64, error) {
				_, err := s.DeleteRemoteCoop(ctx, nil, "https://beta.example/coops/beta")
				return 0, err
			}},
		}
		for _, st := range steps {
			before := lastSeq(t, d)
			select { // drop an earlier wake-up
			case <-s.changed:
			default:
			}
			want, err := st.write()
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			got := feedChanges(t, d, before)
			if want == 0 {
				if len(got) != 0 {
					t.Errorf("%s: recorded %v, want nothing", st.name, got)
				}
				continue
			}
			if !slices.Equal(got, []int64{want}) {
				t.Errorf("%s: recorded %v, want [%d]", st.name, got, want)
			}
			select {
			case <-s.changed:
			default:
				t.Errorf("%s: the directory was not woken", st.name)
			}
		}
	})
}

// TestRecordChangeReplacedHandle checks that a coop replaced by a new actor
// under the same handle records both: the old one leaves the directory.
func TestRecordChangeReplacedHandle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		old, err := s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("beta.example", "beta"))
		if err != nil {
			t.Fatal(err)
		}
		before := lastSeq(t, d)
		c := testRemoteCoop("beta.example", "beta")
		c.ActorID = "https://beta.example/users/beta"
		id, err := s.UpsertRemoteCoop(ctx, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		if got := feedChanges(t, d, before); id == old || !slices.Equal(got, []int64{old, id}) {
			t.Fatalf("recorded %v, want [%d %d]", got, old, id)
		}
	})
}

// TestRecordChangeRolledBack checks that a change rolled back leaves no row.
func TestRecordChangeRolledBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		before := lastSeq(t, d)
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := s.UpsertRemoteCoop(ctx, tx, testRemoteCoop("beta.example", "beta")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if got := feedChanges(t, d, before); len(got) != 0 {
			t.Fatalf("rolled back change left %v", got)
		}
	})
}

func TestSetUnreachable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		local, err := s.CreateCoop(ctx, Coop{Slug: "alpha", Name: "Alpha"})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("beta.example", "beta"))
		if err != nil {
			t.Fatal(err)
		}
		since := func() *time.Time {
			t.Helper()
			var at sql.NullTime
			if err := d.QueryRow(ctx, `SELECT unreachable_since FROM coops WHERE id = $1`, id).Scan(&at); err != nil {
				t.Fatal(err)
			}
			if !at.Valid {
				return nil
			}
			u := at.Time.UTC()
			return &u
		}
		first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		later := first.Add(time.Hour)
		if err := s.SetUnreachable(ctx, id, &first); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUnreachable(ctx, id, &later); err != nil {
			t.Fatal(err)
		}
		if got := since(); got == nil || !got.Equal(first) {
			t.Fatalf("unreachable since %v, want the first failure %v", got, first)
		}
		if err := s.SetUnreachable(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		if got := since(); got != nil {
			t.Fatalf("unreachable since %v after clearing", got)
		}
		// A fresh copy of the profile means the peer answers.
		if err := s.SetUnreachable(ctx, id, &first); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("beta.example", "beta")); err != nil {
			t.Fatal(err)
		}
		if got := since(); got != nil {
			t.Fatalf("unreachable since %v after a fresh profile", got)
		}
		for _, bad := range []int64{local.ID, id + 100} {
			before := lastSeq(t, d)
			if err := s.SetUnreachable(ctx, bad, &first); !errors.Is(err, ErrNotFound) {
				t.Errorf("coop %d: got %v, want ErrNotFound", bad, err)
			}
			if got := feedChanges(t, d, before); len(got) != 0 {
				t.Errorf("coop %d: recorded %v", bad, got)
			}
		}
	})
}

func TestStaleRemoteCoops(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		if _, err := s.CreateCoop(ctx, Coop{Slug: "alpha", Name: "Alpha"}); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		ids := map[string]int64{}
		for _, slug := range []string{"old", "older", "never", "fresh"} {
			id, err := s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("beta.example", slug))
			if err != nil {
				t.Fatal(err)
			}
			ids[slug] = id
		}
		for slug, at := range map[string]any{"old": now.Add(-2 * time.Hour), "older": now.Add(-3 * time.Hour), "never": nil} {
			if _, err := d.Exec(ctx, `UPDATE coops SET fetched_at = $2 WHERE id = $1`, ids[slug], at); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			limit int
			want  []string
		}{{10, []string{"never", "older", "old"}}, {2, []string{"never", "older"}}, {0, nil}} {
			got, err := s.StaleRemoteCoops(ctx, now.Add(-time.Hour), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var slugs []string
			for _, c := range got {
				slugs = append(slugs, c.Slug)
			}
			if !slices.Equal(slugs, tc.want) {
				t.Errorf("limit %d: got %v, want %v", tc.limit, slugs, tc.want)
			}
		}
	})
}

// insertChanges writes feed rows with the given seqs.
func insertChanges(t *testing.T, d *db.DB, at time.Time, seqs ...int64) {
	t.Helper()
	for _, seq := range seqs {
		if _, err := d.Exec(context.Background(), `INSERT INTO directory_changes (seq, coop_id, changed_at) VALUES ($1, $2, $3)`,
			seq, seq*10, at); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFeedCursor checks the cursor's reading of the feed with gaps: a seq
// that appears late is read, one that never does is given up after
// gapTimeout, and the seqs missing at start are waited for too.
func TestFeedCursor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := time.Now()
		insertChanges(t, d, now, 1, 2, 4)
		var c feedCursor
		if err := c.start(ctx, d, now); err != nil {
			t.Fatal(err)
		}
		wantGaps := 1 // 3, on PostgreSQL, whose writers take seqs in parallel
		if d.Dialect() == db.SQLite {
			wantGaps = 0
		}
		if c.last != 4 || len(c.gaps) != wantGaps {
			t.Fatalf("started at %d with gaps %v, want 4 and %d", c.last, c.gaps, wantGaps)
		}
		read := func(at time.Time) (filled, next []int64, givenUp int) {
			t.Helper()
			r, err := c.read(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range r.filled {
				filled = append(filled, ch.seq)
			}
			for _, ch := range r.next {
				next = append(next, ch.seq)
			}
			return filled, next, c.advance(r, at)
		}
		insertChanges(t, d, now, 5, 8)
		filled, next, _ := read(now)
		if len(filled) != 0 || !slices.Equal(next, []int64{5, 8}) {
			t.Fatalf("read filled %v, next %v", filled, next)
		}
		insertChanges(t, d, now, 3, 7, 9)
		filled, next, _ = read(now.Add(time.Second))
		wantFilled := []int64{3, 7}
		if d.Dialect() == db.SQLite {
			wantFilled = []int64{7}
		}
		if !slices.Equal(filled, wantFilled) || !slices.Equal(next, []int64{9}) {
			t.Fatalf("read filled %v, next %v, want %v and [9]", filled, next, wantFilled)
		}
		if len(c.gaps) != 1 {
			t.Fatalf("gaps %v, want [6]", c.gaps)
		}
		// 6 never commits: it is given up, and not read again.
		if _, _, givenUp := read(now.Add(gapTimeout + time.Second)); givenUp != 1 || len(c.gaps) != 0 {
			t.Fatalf("gave up %d, gaps left %v", givenUp, c.gaps)
		}
		insertChanges(t, d, now, 6)
		if filled, next, _ := read(now.Add(gapTimeout + 2*time.Second)); len(filled)+len(next) != 0 {
			t.Fatalf("read %v %v after giving up", filled, next)
		}
		r := feedRead{filled: []change{{3, 30}}, next: []change{{9, 30}, {10, 20}}}
		if ids := r.coopIDs(); !slices.Equal(ids, []int64{20, 30}) {
			t.Fatalf("coop ids %v", ids)
		}
	})
}

// TestFeedCursorBatches checks that a feed longer than one read is read
// whole, in order.
func TestFeedCursorBatches(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var c feedCursor
		if err := c.start(ctx, d, time.Now()); err != nil {
			t.Fatal(err)
		}
		n := feedBatch + 10
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = int64(i + 1)
			}
			return bulkRecordChanges(ctx, tx, bulkParams(d.Dialect()), ids)
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for {
			r, err := c.read(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range r.next {
				got = append(got, ch.coopID)
			}
			c.advance(r, time.Now())
			if len(r.next) < feedBatch {
				break
			}
		}
		if len(got) != n || got[0] != 1 || got[n-1] != int64(n) || len(c.gaps) != 0 {
			t.Fatalf("read %d changes (%d..%d), gaps %d", len(got), got[0], got[len(got)-1], len(c.gaps))
		}
	})
}

// TestFeedGapPostgres makes the gap for real: a transaction holds a lower
// seq while a later one commits first.
func TestFeedGapPostgres(t *testing.T) {
	d := testdb.Postgres(t)
	ctx := context.Background()
	s := NewStore(d, bcrypt.MinCost)
	var c feedCursor
	if err := c.start(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	tx, err := d.WriteSQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	slow, err := s.UpsertRemoteCoop(ctx, tx, testRemoteCoop("slow.example", "slow"))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.UpsertRemoteCoop(ctx, nil, testRemoteCoop("fast.example", "fast"))
	if err != nil {
		t.Fatal(err)
	}
	read := func() []int64 {
		t.Helper()
		r, err := c.read(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		c.advance(r, time.Now())
		return r.coopIDs()
	}
	if got := read(); !slices.Equal(got, []int64{fast}) || len(c.gaps) != 1 {
		t.Fatalf("read %v with gaps %v, want [%d] and one gap", got, c.gaps, fast)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := read(); !slices.Equal(got, []int64{slow}) || len(c.gaps) != 0 {
		t.Fatalf("read %v with gaps %v, want [%d] and none", got, c.gaps, slow)
	}
}

func TestPruneChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		now := time.Now().UTC()
		insertChanges(t, d, now.Add(-keepChanges-time.Minute), 1, 2)
		insertChanges(t, d, now.Add(-keepChanges+time.Minute), 3)
		n, err := s.pruneChanges(ctx, now)
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want 2", n, err)
		}
		if got := feedChanges(t, d, 0); !slices.Equal(got, []int64{30}) {
			t.Fatalf("left %v", got)
		}
	})
}
