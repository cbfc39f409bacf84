// Package testdb gives tests a real, migrated database: a SQLite file in a
// temporary folder, or a fresh schema in the PostgreSQL named by
// COOPNET_TEST_DATABASE_URL, so that tests and packages never share data.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/migrations"
)

// EnvPostgres names the environment variable holding the PostgreSQL URL that
// tests create their schemas in.
const EnvPostgres = "COOPNET_TEST_DATABASE_URL"

// Each runs fn once on SQLite and once on PostgreSQL, as subtests named after
// the dialect. Without COOPNET_TEST_DATABASE_URL the PostgreSQL run is skipped,
// except under CI (CI set), where it fails: CI must never pass on SQLite alone.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run(string(db.SQLite), func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run(string(db.Postgres), func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a migrated SQLite database in a temporary folder.
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	dir := t.TempDir()
	d, err := db.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	migrate(t, d)
	return d
}

// Postgres opens a migrated PostgreSQL database in a schema of its own, dropped
// when the test ends.
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	u := PostgresURL(t)
	schema := NewSchema(t, u)
	d, err := db.Open(context.Background(), WithSchema(t, u, schema), "")
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	migrate(t, d)
	return d
}

// PostgresURL returns the PostgreSQL URL for tests, skipping the test when none
// is set outside CI and failing it under CI.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvPostgres)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests", EnvPostgres)
		}
		t.Skipf("%s not set: PostgreSQL tests skipped", EnvPostgres)
	}
	return u
}

// NewSchema creates an empty schema with a random name and drops it, with
// everything in it, when the test ends.
func NewSchema(t testing.TB, baseURL string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", baseURL)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("postgres at %s: create schema: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// WithSchema returns baseURL with its search_path set to schema.
func WithSchema(t testing.TB, baseURL, schema string) string {
	t.Helper()
	pu, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	q := pu.Query()
	q.Set("search_path", schema)
	pu.RawQuery = q.Encode()
	return pu.String()
}

func migrate(t testing.TB, d *db.DB) {
	t.Helper()
	if _, err := migrations.Apply(context.Background(), d); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}
