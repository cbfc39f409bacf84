package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/validate"
)

// InvitationTTL is how long an invitation link stays valid.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation asks someone to join a coop as a member.
type Invitation struct {
	CoopID    int64
	Email     string
	Role      Role
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Invite creates a one-time invitation to join a coop and returns its secret,
// to be sent to the person as a link.
func (s *Store) Invite(ctx context.Context, coopID, invitedBy int64, email string, role Role) (string, error) {
	var e validate.Errors
	email = normalEmail(email)
	validate.Required(&e, "email", email, 254)
	validate.Email(&e, "email", email)
	validate.OneOf(&e, "role", string(role), []string{string(RoleAdmin), string(RoleMember)})
	if err := e.Err(); err != nil {
		return "", err
	}
	if _, err := s.MemberByEmail(ctx, email); err == nil {
		return "", &validate.Error{Fields: validate.Errors{"email": "a member with this e-mail address already exists"}}
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	secret, hash := newSecret("")
	now := db.Now()
	_, err := s.db.Exec(ctx, `INSERT INTO invitations (token_hash, coop_id, email, role, invited_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, hash, coopID, email, string(role), invitedBy, now, now.Add(InvitationTTL))
	if err != nil {
		return "", fmt.Errorf("directory: invite: %w", err)
	}
	return secret, nil
}

// PendingInvitations returns a coop's unused, unexpired invitations.
func (s *Store) PendingInvitations(ctx context.Context, coopID int64) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, `SELECT coop_id, email, role, created_at, expires_at FROM invitations
		WHERE coop_id = $1 AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, coopID, db.Now())
	if err != nil {
		return nil, fmt.Errorf("directory: list invitations: %w", err)
	}
	defer rows.Close()
	out := []Invitation{}
	for rows.Next() {
		var inv Invitation
		if err := rows.Scan(&inv.CoopID, &inv.Email, &inv.Role, &inv.CreatedAt, &inv.ExpiresAt); err != nil {
			return nil, fmt.Errorf("directory: list invitations: %w", err)
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// Invitation returns the usable invitation with that secret, or ErrNotFound
// when it is unknown, used or expired.
func (s *Store) Invitation(ctx context.Context, secret string) (Invitation, error) {
	var inv Invitation
	err := s.db.QueryRow(ctx, `SELECT coop_id, email, role, created_at, expires_at FROM invitations
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, hashSecret(secret), db.Now()).
		Scan(&inv.CoopID, &inv.Email, &inv.Role, &inv.CreatedAt, &inv.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Invitation{}, ErrNotFound
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("directory: read invitation: %w", err)
	}
	return inv, nil
}

// AcceptInvitation uses an invitation once: it creates the member with the
// name and password given.
func (s *Store) AcceptInvitation(ctx context.Context, secret, name, password string) (Member, error) {
	inv, err := s.Invitation(ctx, secret)
	if err != nil {
		return Member{}, err
	}
	m := Member{CoopID: inv.CoopID, Email: inv.Email, Name: name, Role: inv.Role}
	var e validate.Errors
	checkMember(&e, "name", m, password)
	if err := e.Err(); err != nil {
		return Member{}, err
	}
	hash, err := s.hash(password)
	if err != nil {
		return Member{}, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Marking it used first, under the condition that it was unused, makes a
		// second use of the same link fail even when both arrive at once.
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL`,
			hashSecret(secret), db.Now())
		if err != nil {
			return fmt.Errorf("directory: accept invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return insertMember(ctx, tx, &m, hash)
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}
