package db

import (
	"context"
	"fmt"
	"time"
)

// Lease claims the lease name for holder until the time given, and reports
// whether it got it: it does when the lease is free, has expired, or is
// holder's already (a renewal). Processes sharing a database take turns at
// periodic work with it: each names itself as holder, and the one that gets
// the lease does the round. A holder that stops stops renewing, and another
// gets the lease once it expires.
func (d *DB) Lease(ctx context.Context, name, holder string, until time.Time) (bool, error) {
	res, err := d.Exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= $4`, name, holder, until.UTC().Truncate(time.Microsecond), Now())
	if err != nil {
		return false, fmt.Errorf("db: claim lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("db: claim lease %s: %w", name, err)
	}
	return n == 1, nil
}
