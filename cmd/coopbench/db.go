package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/migrations"
)

// benchDB is a migrated database of its own for one benchmark: a SQLite file
// in a temporary folder, or a fresh schema in PostgreSQL (chosen through
// search_path, as internal/testdb does). Close removes it.
type benchDB struct {
	*db.DB
	// URL is what `coopnet` takes as --database-url for the same database
	// (empty for SQLite), and Dir its data directory.
	URL, Dir string
	cleanup  []func() error
}

// openBenchDB creates the database, PostgreSQL when databaseURL is set, else
// SQLite, and applies the migrations.
func openBenchDB(ctx context.Context, databaseURL string) (*benchDB, error) {
	b, err := newBenchStorage(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if err := b.open(ctx); err != nil {
		return nil, errors.Join(err, b.Close())
	}
	return b, nil
}

// newBenchStorage creates the temporary folder and, for PostgreSQL, the
// schema, without opening the database: `coopbench start` leaves that to
// `coopnet init`.
func newBenchStorage(ctx context.Context, databaseURL string) (*benchDB, error) {
	b := &benchDB{}
	dir, err := os.MkdirTemp("", "coopbench-")
	if err != nil {
		return nil, fmt.Errorf("temporary folder: %w", err)
	}
	b.Dir = dir
	b.cleanup = append(b.cleanup, func() error { return os.RemoveAll(dir) })
	if databaseURL != "" {
		if b.URL, err = b.newSchema(ctx, databaseURL); err != nil {
			return nil, errors.Join(err, b.Close())
		}
	}
	return b, nil
}

// open opens the database and applies the migrations.
func (b *benchDB) open(ctx context.Context) error {
	d, err := db.Open(ctx, b.URL, b.Dir)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	b.DB = d
	b.cleanup = append(b.cleanup, d.Close)
	if _, err := migrations.Apply(ctx, d); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// newSchema creates a schema with a random name, to be dropped with
// everything in it by Close, and returns baseURL with its search_path.
func (b *benchDB) newSchema(ctx context.Context, baseURL string) (string, error) {
	if !strings.HasPrefix(baseURL, "postgres://") && !strings.HasPrefix(baseURL, "postgresql://") {
		return "", usageErrorf("--database-url must start with postgres://")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", usageErrorf("--database-url: %v", err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "coopbench_" + hex.EncodeToString(rnd[:])
	admin, err := sql.Open("pgx", baseURL)
	if err != nil {
		return "", fmt.Errorf("open postgres: %w", err)
	}
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		return "", fmt.Errorf("postgres: create schema: %w", err)
	}
	// Cleanups run last first: this one after the node's pool is closed.
	b.cleanup = append(b.cleanup, func() error {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			return fmt.Errorf("postgres: drop schema %s: %w", schema, err)
		}
		return nil
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Close closes the database and removes it, the most recent resource first.
func (b *benchDB) Close() error {
	var err error
	for i := len(b.cleanup) - 1; i >= 0; i-- {
		err = errors.Join(err, b.cleanup[i]())
	}
	b.cleanup = nil
	return err
}

// dialect names the database for reports.
func (b *benchDB) dialect() string {
	if b.URL != "" {
		return string(db.Postgres)
	}
	return string(db.SQLite)
}
