package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

const coopColumns = `c.id, c.slug, c.name, c.summary, c.website, c.city, c.region, c.country,
	c.regions_served, c.remote_friendly, c.languages, c.year_founded, c.legal_form,
	c.worker_owners, c.workers, c.networks, c.contact_email, c.capacity, c.skills,
	c.approve_followers, c.discoverable, c.created_at, c.updated_at,
	EXISTS (SELECT 1 FROM coop_logos l WHERE l.coop_id = c.id)`

type scanner interface{ Scan(dest ...any) error }

func scanCoop(row scanner) (Coop, error) {
	var c Coop
	var regions, langs, networks, skills list
	err := row.Scan(&c.ID, &c.Slug, &c.Name, &c.Summary, &c.Website, &c.City, &c.Region, &c.Country,
		&regions, &c.RemoteFriendly, &langs, &c.YearFounded, &c.LegalForm,
		&c.WorkerOwners, &c.Workers, &networks, &c.ContactEmail, &c.Capacity, &skills,
		&c.ApproveFollowers, &c.Discoverable, &c.CreatedAt, &c.UpdatedAt, &c.HasLogo)
	c.RegionsServed, c.Languages, c.Networks, c.Skills = regions, langs, networks, skills
	// SQLite hands times back in a zone of its own making; UTC keeps the two
	// databases' values identical.
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// CountCoops returns how many coops the node hosts (peers' coops aside).
func (s *Store) CountCoops(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM coops WHERE domain = ''`).Scan(&n); err != nil {
		return 0, fmt.Errorf("directory: count coops: %w", err)
	}
	return n, nil
}

// ListCoops returns the coops hosted here, by name.
func (s *Store) ListCoops(ctx context.Context) ([]Coop, error) {
	rows, err := s.db.Query(ctx, `SELECT `+coopColumns+` FROM coops c WHERE c.domain = '' ORDER BY c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("directory: list coops: %w", err)
	}
	defer rows.Close()
	out := []Coop{}
	for rows.Next() {
		c, err := scanCoop(rows)
		if err != nil {
			return nil, fmt.Errorf("directory: list coops: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: list coops: %w", err)
	}
	return out, nil
}

// CoopBySlug returns the coop hosted here with that slug, or ErrNotFound.
func (s *Store) CoopBySlug(ctx context.Context, slug string) (Coop, error) {
	// Anything that is not a slug is not looked up: URLs bring arbitrary bytes.
	if !slugRE.MatchString(slug) {
		return Coop{}, ErrNotFound
	}
	return s.coop(ctx, `c.domain = '' AND c.slug = $1`, slug)
}

// CoopByID returns the coop with that id, or ErrNotFound.
func (s *Store) CoopByID(ctx context.Context, id int64) (Coop, error) {
	return s.coop(ctx, `c.id = $1`, id)
}

func (s *Store) coop(ctx context.Context, where string, arg any) (Coop, error) {
	c, err := scanCoop(s.db.QueryRow(ctx, `SELECT `+coopColumns+` FROM coops c WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Coop{}, ErrNotFound
	}
	if err != nil {
		return Coop{}, fmt.Errorf("directory: read coop: %w", err)
	}
	return c, nil
}

func insertCoop(ctx context.Context, tx *sql.Tx, c *Coop) error {
	now := db.Now()
	err := tx.QueryRowContext(ctx, `INSERT INTO coops (slug, name, summary, website, city, region, country,
		regions_served, remote_friendly, languages, year_founded, legal_form, worker_owners, workers,
		networks, contact_email, capacity, skills, approve_followers, discoverable, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $20, $21, $19, $19)
		RETURNING id`,
		c.Slug, c.Name, c.Summary, c.Website, c.City, c.Region, c.Country,
		list(c.RegionsServed), c.RemoteFriendly, list(c.Languages), c.YearFounded, c.LegalForm,
		c.WorkerOwners, c.Workers, list(c.Networks), c.ContactEmail, string(c.Capacity), list(c.Skills), now,
		c.ApproveFollowers, c.Discoverable,
	).Scan(&c.ID)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: a coop with slug %q", ErrConflict, c.Slug)
	}
	if err != nil {
		return fmt.Errorf("directory: insert coop: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = now, now
	return recordChange(ctx, tx, c.ID)
}

// CreateCoop adds another coop to the node (a node can host several).
func (s *Store) CreateCoop(ctx context.Context, c Coop) (Coop, error) {
	if err := c.Normalize(); err != nil {
		return Coop{}, err
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return insertCoop(ctx, tx, &c) })
	return c, err
}

// UpdateCoop saves the profile of the coop with c's slug. The slug itself never
// changes: the coop's public URLs and handle are made of it.
func (s *Store) UpdateCoop(ctx context.Context, c Coop) (Coop, error) {
	if err := c.Normalize(); err != nil {
		return Coop{}, err
	}
	var out Coop
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE coops SET name = $2, summary = $3, website = $4, city = $5,
			region = $6, country = $7, regions_served = $8, remote_friendly = $9, languages = $10,
			year_founded = $11, legal_form = $12, worker_owners = $13, workers = $14, networks = $15,
			contact_email = $16, capacity = $17, skills = $18, updated_at = $19,
			approve_followers = $20, discoverable = $21
			WHERE domain = '' AND slug = $1 RETURNING id`,
			c.Slug, c.Name, c.Summary, c.Website, c.City, c.Region, c.Country,
			list(c.RegionsServed), c.RemoteFriendly, list(c.Languages), c.YearFounded, c.LegalForm,
			c.WorkerOwners, c.Workers, list(c.Networks), c.ContactEmail, string(c.Capacity), list(c.Skills), db.Now(),
			c.ApproveFollowers, c.Discoverable).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("directory: update coop: %w", err)
		}
		return s.coopChanged(ctx, tx, id, &out)
	})
	return out, err
}

// coopChanged records the change, reads the coop back inside tx and tells
// the hooks.
func (s *Store) coopChanged(ctx context.Context, tx *sql.Tx, id int64, out *Coop) error {
	if err := recordChange(ctx, tx, id); err != nil {
		return err
	}
	c, err := coopTx(ctx, tx, id)
	if err != nil {
		return err
	}
	*out = c
	return s.notify(ctx, tx, Change{Kind: CoopUpdated, Coop: c})
}

// MaxLogoBytes is the largest logo accepted.
const MaxLogoBytes = 1 << 20

// Logo is a coop's uploaded image.
type Logo struct {
	ContentType string
	Data        []byte
	UpdatedAt   time.Time
}

// SetLogo stores the coop's logo, replacing any earlier one. Callers check the
// image (see CheckLogo) first.
func (s *Store) SetLogo(ctx context.Context, coopID int64, contentType string, data []byte) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO coop_logos (coop_id, content_type, data, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (coop_id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data, updated_at = excluded.updated_at`,
			coopID, contentType, data, db.Now())
		if db.IsForeignKeyViolation(err) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("directory: save logo: %w", err)
		}
		var c Coop
		return s.coopChanged(ctx, tx, coopID, &c)
	})
}

// Logo returns the coop's logo, or ErrNotFound.
func (s *Store) Logo(ctx context.Context, coopID int64) (Logo, error) {
	var l Logo
	err := s.db.QueryRow(ctx, `SELECT content_type, data, updated_at FROM coop_logos WHERE coop_id = $1`, coopID).
		Scan(&l.ContentType, &l.Data, &l.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Logo{}, ErrNotFound
	}
	if err != nil {
		return Logo{}, fmt.Errorf("directory: read logo: %w", err)
	}
	return l, nil
}

// DeleteLogo removes the coop's logo.
func (s *Store) DeleteLogo(ctx context.Context, coopID int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM coop_logos WHERE coop_id = $1`, coopID)
		if err != nil {
			return fmt.Errorf("directory: delete logo: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		var c Coop
		return s.coopChanged(ctx, tx, coopID, &c)
	})
}
