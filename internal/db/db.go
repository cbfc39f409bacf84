// Package db opens the node's database, SQLite or PostgreSQL, behind one small
// type so that the domain stores can run one query text on both.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL database behind a DB.
type Dialect string

// The two dialects the node supports.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// SQLiteFile is the name of the database file inside the data directory.
const SQLiteFile = "coopnet.db"

// DB is the node's database. Reads go through a pool; on SQLite every write goes
// through a single connection, because SQLite allows one writer at a time and a
// second writer would only wait on the file lock (or fail with SQLITE_BUSY).
type DB struct {
	read    *sql.DB
	write   *sql.DB
	dialect Dialect

	// afterCommit holds, for each transaction Tx has open, what runs once
	// it commits (see AfterCommit).
	mu          sync.Mutex
	afterCommit map[*sql.Tx][]func()
}

// Open opens the database named by databaseURL, or, when it is empty, the SQLite
// file in dataDir (created when missing). It checks that the database answers.
func Open(ctx context.Context, databaseURL, dataDir string) (*DB, error) {
	var d *DB
	var err error
	switch {
	case databaseURL == "":
		d, err = openSQLite(dataDir)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		d, err = openPostgres(databaseURL)
	default:
		return nil, errors.New("db: database URL must start with postgres:// (leave it empty for SQLite)")
	}
	if err != nil {
		return nil, err
	}
	if err := d.Ping(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func openSQLite(dataDir string) (*DB, error) {
	if dataDir == "" {
		return nil, errors.New("db: no data directory for the SQLite database")
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("db: create data directory: %w", err)
	}
	path := filepath.Join(dataDir, SQLiteFile)
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640); err != nil {
		return nil, fmt.Errorf("db: data directory is not writable: %w", err)
	} else {
		f.Close()
	}
	params := url.Values{}
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "foreign_keys(1)")
	params.Add("_pragma", "synchronous(NORMAL)")
	params.Set("_txlock", "immediate")
	params.Set("_time_format", "sqlite")
	// A "file:" DSN is a SQLite URI: the path must be escaped, or a # or ? in
	// the data directory's name would cut it short.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + params.Encode()

	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("db: open sqlite: %w", err)
	}
	// Keep every read connection open: opening one reads the whole schema,
	// and database/sql keeps only 2 idle by default.
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{read: read, write: write, dialect: SQLite}, nil
}

func openPostgres(databaseURL string) (*DB, error) {
	pool, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("db: open postgres: %w", err)
	}
	// As many idle as open: database/sql keeps 2 by default, and under
	// concurrent requests the rest would be closed and reopened all the time
	// (a new PostgreSQL backend each time).
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	return &DB{read: pool, write: pool, dialect: Postgres}, nil
}

// Dialect tells which database this is.
func (d *DB) Dialect() Dialect { return d.dialect }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.write.PingContext(ctx); err != nil {
		return fmt.Errorf("db: %s not reachable: %w", d.dialect, err)
	}
	return nil
}

// Close closes every connection.
func (d *DB) Close() error {
	err := d.write.Close()
	if d.read != d.write {
		err = errors.Join(err, d.read.Close())
	}
	return err
}

// Query runs a read query.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.read.QueryContext(ctx, query, args...)
}

// QueryRow runs a read query that returns at most one row.
func (d *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return d.read.QueryRowContext(ctx, query, args...)
}

// Exec runs one write statement outside of a transaction.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.write.ExecContext(ctx, query, args...)
}

// Tx runs fn in a write transaction, committed when fn returns nil and rolled
// back otherwise, so that a failed save leaves nothing half-written.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	d.mu.Lock()
	if d.afterCommit == nil {
		d.afterCommit = map[*sql.Tx][]func(){}
	}
	d.afterCommit[tx] = nil
	d.mu.Unlock()
	err = fn(tx)
	if err == nil {
		if err = tx.Commit(); err != nil {
			err = fmt.Errorf("db: commit: %w", err)
		}
	} else {
		_ = tx.Rollback()
	}
	d.mu.Lock()
	after := d.afterCommit[tx]
	delete(d.afterCommit, tx)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

// AfterCommitMark returns a mark of the callbacks AfterCommit holds for
// tx, taken before a SAVEPOINT: after a ROLLBACK TO that savepoint,
// DropAfterCommit(tx, mark) forgets those the undone work arranged, which
// must not run when the rest commits.
func (d *DB) AfterCommitMark(tx *sql.Tx) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.afterCommit[tx])
}

// DropAfterCommit forgets the callbacks arranged for tx since mark.
func (d *DB) DropAfterCommit(tx *sql.Tx, mark int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if after, ok := d.afterCommit[tx]; ok && mark < len(after) {
		clear(after[mark:])
		d.afterCommit[tx] = after[:mark]
	}
}

// AfterCommit arranges for f to run once tx, a transaction of Tx, has
// committed; it never runs if tx rolls back. f runs on the goroutine that
// called Tx, before Tx returns: it should hand long work to another. It
// reports false, and does nothing, when tx is not a transaction Tx has open.
func (d *DB) AfterCommit(tx *sql.Tx, f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	after, ok := d.afterCommit[tx]
	if !ok {
		return false
	}
	d.afterCommit[tx] = append(after, f)
	return true
}

// IsUniqueViolation reports whether err is a unique or primary key violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsForeignKeyViolation reports whether err is a foreign key violation.
func IsForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23503"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// WriteSQL returns the pool writes go through (on SQLite, its one connection),
// for libraries that need a *sql.DB of their own, such as the job queue.
func (d *DB) WriteSQL() *sql.DB { return d.write }
