package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/coopnet/coopnet/internal/db"
)

const serviceColumns = `id, coop_id, title, description, category, tags, pricing, price_min, price_max,
	currency, active, created_at, updated_at`

func scanService(row scanner) (Service, error) {
	var s Service
	var tags list
	var min, max sql.NullInt64
	err := row.Scan(&s.ID, &s.CoopID, &s.Title, &s.Description, &s.Category, &tags, &s.Pricing,
		&min, &max, &s.Currency, &s.Active, &s.CreatedAt, &s.UpdatedAt)
	s.Tags = tags
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	if min.Valid {
		s.PriceMin = &min.Int64
	}
	if max.Valid {
		s.PriceMax = &max.Int64
	}
	return s, err
}

// ListServices returns a coop's services, newest first; inactive ones only when
// includeInactive is set.
func (s *Store) ListServices(ctx context.Context, coopID int64, includeInactive bool) ([]Service, error) {
	rows, err := s.db.Query(ctx, `SELECT `+serviceColumns+` FROM services
		WHERE coop_id = $1 AND (active OR $2) ORDER BY created_at DESC, id DESC`, coopID, includeInactive)
	if err != nil {
		return nil, fmt.Errorf("directory: list services: %w", err)
	}
	defer rows.Close()
	out := []Service{}
	for rows.Next() {
		svc, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("directory: list services: %w", err)
		}
		out = append(out, svc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: list services: %w", err)
	}
	return out, nil
}

// Service returns one of a coop's services, or ErrNotFound.
func (s *Store) Service(ctx context.Context, coopID, id int64) (Service, error) {
	svc, err := scanService(s.db.QueryRow(ctx, `SELECT `+serviceColumns+` FROM services WHERE coop_id = $1 AND id = $2`, coopID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Service{}, ErrNotFound
	}
	if err != nil {
		return Service{}, fmt.Errorf("directory: read service: %w", err)
	}
	return svc, nil
}

// CreateService adds a service to a coop.
func (s *Store) CreateService(ctx context.Context, coopID int64, svc Service) (Service, error) {
	if err := svc.Normalize(); err != nil {
		return Service{}, err
	}
	var out Service
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO services (coop_id, title, description, category, tags,
			pricing, price_min, price_max, currency, active, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id`,
			coopID, svc.Title, svc.Description, svc.Category, list(svc.Tags), svc.Pricing,
			svc.PriceMin, svc.PriceMax, svc.Currency, svc.Active, db.Now()).Scan(&id)
		if db.IsForeignKeyViolation(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("directory: create service: %w", err)
		}
		return s.serviceChanged(ctx, tx, ServiceCreated, coopID, id, &out)
	})
	return out, err
}

// UpdateService saves the service with svc's id and coop.
func (s *Store) UpdateService(ctx context.Context, svc Service) (Service, error) {
	if err := svc.Normalize(); err != nil {
		return Service{}, err
	}
	var out Service
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE services SET title = $3, description = $4, category = $5, tags = $6,
			pricing = $7, price_min = $8, price_max = $9, currency = $10, active = $11, updated_at = $12
			WHERE coop_id = $1 AND id = $2`,
			svc.CoopID, svc.ID, svc.Title, svc.Description, svc.Category, list(svc.Tags), svc.Pricing,
			svc.PriceMin, svc.PriceMax, svc.Currency, svc.Active, db.Now())
		if err != nil {
			return fmt.Errorf("directory: update service: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.serviceChanged(ctx, tx, ServiceUpdated, svc.CoopID, svc.ID, &out)
	})
	return out, err
}

// DeleteService removes one of a coop's services.
func (s *Store) DeleteService(ctx context.Context, coopID, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		svc, err := serviceTx(ctx, tx, coopID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM services WHERE coop_id = $1 AND id = $2`, coopID, id); err != nil {
			return fmt.Errorf("directory: delete service: %w", err)
		}
		if err := recordChange(ctx, tx, coopID); err != nil {
			return err
		}
		c, err := coopTx(ctx, tx, coopID)
		if err != nil {
			return err
		}
		return s.notify(ctx, tx, Change{Kind: ServiceDeleted, Coop: c, Service: svc})
	})
}

// serviceChanged records the change, reads the service and its coop back
// inside tx and tells the hooks.
func (s *Store) serviceChanged(ctx context.Context, tx *sql.Tx, kind ChangeKind, coopID, id int64, out *Service) error {
	if err := recordChange(ctx, tx, coopID); err != nil {
		return err
	}
	svc, err := serviceTx(ctx, tx, coopID, id)
	if err != nil {
		return err
	}
	c, err := coopTx(ctx, tx, coopID)
	if err != nil {
		return err
	}
	*out = svc
	return s.notify(ctx, tx, Change{Kind: kind, Coop: c, Service: svc})
}
