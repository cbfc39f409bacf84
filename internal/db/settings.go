package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Now is the time the stores write: UTC, to the microsecond, so that both
// databases store and return the same value.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Setting reads a node setting; ok is false when it was never set.
func (d *DB) Setting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = d.QueryRow(ctx, `SELECT value FROM node_settings WHERE key = $1`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("db: read setting %s: %w", key, err)
	}
	return value, true, nil
}

// SetSetting writes a node setting inside tx.
func SetSetting(ctx context.Context, tx *sql.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO node_settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("db: write setting %s: %w", key, err)
	}
	return nil
}
