package db

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL
)`

// Migration is one numbered schema file, such as 0001_init.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations reads the numbered .sql files at the root of fsys, in order.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("db: list migrations: %w", err)
	}
	var out []Migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("db: migration %q: name must start with a number and an underscore", name)
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("db: read migration %q: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("db: migrations %q and %q share a number", out[i-1].Name, out[i].Name)
		}
	}
	return out, nil
}

// Migrate applies the migrations not yet applied, each in its own transaction
// under a lock, so that several processes starting at once against one
// database apply each migration exactly once. It returns the names it applied.
func (d *DB) Migrate(ctx context.Context, migrations []Migration) ([]string, error) {
	var applied []string
	for _, m := range migrations {
		done := false
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			if lock := d.dialect.lockStatement(); lock != "" {
				if _, err := tx.ExecContext(ctx, lock); err != nil {
					return fmt.Errorf("db: take migration lock: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
				return fmt.Errorf("db: create schema_migrations: %w", err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
				return fmt.Errorf("db: read schema_migrations: %w", err)
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, d.dialect.SchemaSQL(m.SQL)); err != nil {
				return fmt.Errorf("db: apply migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, Now()); err != nil {
				return fmt.Errorf("db: record migration %s: %w", m.Name, err)
			}
			done = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m.Name)
		}
	}
	return applied, d.checkNotNewer(ctx, migrations)
}

// checkNotNewer refuses a database that a newer coopnet has migrated: this
// binary would not know the schema it is writing to.
func (d *DB) checkNotNewer(ctx context.Context, migrations []Migration) error {
	latest := 0
	if len(migrations) > 0 {
		latest = migrations[len(migrations)-1].Version
	}
	var max sql.NullInt64
	if err := d.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&max); err != nil {
		return fmt.Errorf("db: read schema version: %w", err)
	}
	if max.Valid && int(max.Int64) > latest {
		return fmt.Errorf("db: the database schema is at version %d, newer than this coopnet knows (%d): upgrade coopnet", max.Int64, latest)
	}
	return nil
}
