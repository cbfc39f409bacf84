package directory

import (
	"context"
	"database/sql"
	"fmt"
)

// ChangeKind says what changed in a coop's public data.
type ChangeKind string

// The changes subscribers are told about.
const (
	CoopUpdated    ChangeKind = "coop-updated"
	ServiceCreated ChangeKind = "service-created"
	ServiceUpdated ChangeKind = "service-updated"
	ServiceDeleted ChangeKind = "service-deleted"
)

// Change is a change to the public data of a coop hosted here. Service is set
// for service changes (for ServiceDeleted, as it was before the delete).
type Change struct {
	Kind    ChangeKind
	Coop    Coop
	Service Service
}

// ChangeHook is told of every change inside the transaction that makes it, so
// that what it records (an activity to deliver, say) is committed with the
// change or not at all. An error rolls the change back.
type ChangeHook func(ctx context.Context, tx *sql.Tx, ch Change) error

// OnChange adds a hook. Hooks are added while the node is wired, before it
// serves: they are not safe to add concurrently with writes.
func (s *Store) OnChange(h ChangeHook) { s.hooks = append(s.hooks, h) }

func (s *Store) notify(ctx context.Context, tx *sql.Tx, ch Change) error {
	for _, h := range s.hooks {
		if err := h(ctx, tx, ch); err != nil {
			return fmt.Errorf("directory: change hook: %w", err)
		}
	}
	return nil
}

// coopTx reads a coop inside tx, so that hooks see the change being made.
func coopTx(ctx context.Context, tx *sql.Tx, id int64) (Coop, error) {
	c, err := scanCoop(tx.QueryRowContext(ctx, `SELECT `+coopColumns+` FROM coops c WHERE c.id = $1`, id))
	if err != nil {
		return Coop{}, fmt.Errorf("directory: read coop: %w", err)
	}
	return c, nil
}

func serviceTx(ctx context.Context, tx *sql.Tx, coopID, id int64) (Service, error) {
	svc, err := scanService(tx.QueryRowContext(ctx, `SELECT `+serviceColumns+` FROM services WHERE coop_id = $1 AND id = $2`, coopID, id))
	if err == sql.ErrNoRows {
		return Service{}, ErrNotFound
	}
	if err != nil {
		return Service{}, fmt.Errorf("directory: read service: %w", err)
	}
	return svc, nil
}
