package db_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/migrations"
)

func TestMigrationsFromEmpty(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		// testdb applied them already: a second run applies nothing.
		applied, err := migrations.Apply(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second run applied %v", applied)
		}
		var n int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("no migration recorded")
		}
	})
}

func TestIdentityAndPortableSQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		now := db.Now()
		var id1, id2 int64
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			// $2 before $1 and reused: both drivers must bind by number.
			q := `INSERT INTO coops (slug, name, created_at, updated_at) VALUES ($2, $1, $3, $3) RETURNING id`
			if err := tx.QueryRowContext(ctx, q, "One", "one", now).Scan(&id1); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, q, "Two", "two", now).Scan(&id2)
		})
		if err != nil {
			t.Fatal(err)
		}
		if id1 <= 0 || id2 <= id1 {
			t.Fatalf("ids %d, %d: want increasing positive ids", id1, id2)
		}
		var got sql.NullTime
		if err := d.QueryRow(ctx, `SELECT created_at FROM coops WHERE id = $1`, id1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(now) {
			t.Fatalf("time round trip: got %v, want %v", got.Time, now)
		}
		_, err = d.Exec(ctx, `INSERT INTO coops (slug, name, created_at, updated_at) VALUES ('one', 'Again', $1, $1)`, now)
		if !db.IsUniqueViolation(err) {
			t.Fatalf("duplicate slug: got %v, want a unique violation", err)
		}
		_, err = d.Exec(ctx, `INSERT INTO services (coop_id, title, category, pricing, created_at, updated_at) VALUES (999999, 't', 'other', 'hourly', $1, $1)`, now)
		if !db.IsForeignKeyViolation(err) {
			t.Fatalf("missing coop: got %v, want a foreign key violation", err)
		}
	})
}

func TestTxRollsBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if err := db.SetSetting(ctx, tx, "k", "v"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if _, ok, err := d.Setting(ctx, "k"); err != nil || ok {
			t.Fatalf("setting after rollback: ok=%v err=%v", ok, err)
		}
	})
}

func TestAfterCommit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		var ran []string
		boom := errors.New("boom")
		tests := []struct {
			name string
			fail error
			want bool
		}{
			{"committed", nil, true},
			{"rolled back", boom, false},
		}
		for _, tc := range tests {
			err := d.Tx(ctx, func(tx *sql.Tx) error {
				if !d.AfterCommit(tx, func() {
					// Runs after the commit: the row is there for others.
					_, ok, err := d.Setting(ctx, tc.name)
					if err != nil || !ok {
						t.Errorf("%s: setting not visible in the callback: ok=%v err=%v", tc.name, ok, err)
					}
					ran = append(ran, tc.name)
				}) {
					t.Fatalf("%s: AfterCommit refused a transaction of Tx", tc.name)
				}
				if err := db.SetSetting(ctx, tx, tc.name, "v"); err != nil {
					return err
				}
				if len(ran) != 0 && ran[len(ran)-1] == tc.name {
					t.Errorf("%s: callback ran before the commit", tc.name)
				}
				return tc.fail
			})
			if !errors.Is(err, tc.fail) {
				t.Fatalf("%s: Tx: %v", tc.name, err)
			}
			got := len(ran) > 0 && ran[len(ran)-1] == tc.name
			if got != tc.want {
				t.Errorf("%s: callback ran = %v, want %v", tc.name, got, tc.want)
			}
		}
		// What a savepoint's undone work arranged does not run.
		ran = nil
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			d.AfterCommit(tx, func() { ran = append(ran, "kept") })
			mark := d.AfterCommitMark(tx)
			d.AfterCommit(tx, func() { ran = append(ran, "undone") })
			d.DropAfterCommit(tx, mark)
			d.AfterCommit(tx, func() { ran = append(ran, "after") })
			return nil
		})
		if err != nil || !slices.Equal(ran, []string{"kept", "after"}) {
			t.Errorf("after a dropped mark, ran %v (err %v), want [kept after]", ran, err)
		}
		// A transaction of some other pool is not ours to watch.
		other, err := d.WriteSQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback() //nolint:errcheck
		if d.AfterCommit(other, func() {}) {
			t.Error("AfterCommit accepted a transaction Tx did not open")
		}
	})
}

// Two processes starting at once must apply each migration exactly once.
func TestConcurrentMigrationsPostgres(t *testing.T) {
	u := testdb.PostgresURL(t)
	dsn := testdb.WithSchema(t, u, testdb.NewSchema(t, u))
	ms := []db.Migration{
		{Version: 1, Name: "0001_a.sql", SQL: `CREATE TABLE a (id INTEGER PRIMARY KEY)`},
		{Version: 2, Name: "0002_b.sql", SQL: `CREATE TABLE b (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY); INSERT INTO a (id) VALUES (1)`},
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := db.Open(ctx, dsn, "")
			if err != nil {
				errs[i] = err
				return
			}
			defer d.Close()
			_, errs[i] = d.Migrate(ctx, ms)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	d, err := db.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM a`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in a: %d (%v), want 1", n, err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	d := testdb.SQLite(t)
	ctx := context.Background()
	ms, err := db.ReadMigrations(fstest.MapFS{"0001_x.sql": {Data: []byte("SELECT 1")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', $1)`, db.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Migrate(ctx, ms); err == nil {
		t.Fatal("want an error for a schema newer than the binary")
	}
}

func TestReadMigrationsRejectsBadNames(t *testing.T) {
	for _, name := range []string{"init.sql", "0_x.sql", "x1_init.sql"} {
		if _, err := db.ReadMigrations(fstest.MapFS{name: {Data: []byte("SELECT 1")}}); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestSQLitePathWithURICharacters(t *testing.T) {
	dir := t.TempDir() + "/odd #name? 100%"
	ctx := context.Background()
	d, err := db.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := migrations.Apply(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, db.SQLiteFile)); err != nil {
		t.Fatalf("database not in the data directory: %v", err)
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	if _, err := db.Open(context.Background(), "mysql://x", t.TempDir()); err == nil {
		t.Fatal("want an error for a non-postgres URL")
	}
}

func TestLease(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := migrations.Apply(ctx, d); err != nil {
			t.Fatal(err)
		}
		later := db.Now().Add(time.Hour)
		steps := []struct {
			name, holder string
			until        time.Time
			want         bool
		}{
			{"rounds", "a", later, true},                      // free
			{"rounds", "b", later, false},                     // a holds it
			{"other", "b", later, true},                       // another lease
			{"rounds", "a", later.Add(time.Minute), true},     // a renews
			{"rounds", "b", later, false},                     // still a's
			{"rounds", "a", db.Now().Add(-time.Second), true}, // a lets it lapse
			{"rounds", "b", later, true},                      // expired: b takes it
			{"rounds", "a", later, false},                     // now b's
		}
		for i, s := range steps {
			got, err := d.Lease(ctx, s.name, s.holder, s.until)
			if err != nil || got != s.want {
				t.Fatalf("step %d: %s claims %s: %v, %v; want %v", i, s.holder, s.name, got, err, s.want)
			}
		}
	})
}
