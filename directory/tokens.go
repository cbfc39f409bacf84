package directory

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/validate"
)

// TokenPrefix starts every personal access token, so that a leaked one is easy
// to recognise (and to find with secret scanners).
const TokenPrefix = "coopnet_"

// APIToken is a member's personal access token for the JSON API. The secret
// itself is shown once, when it is created, and never stored.
type APIToken struct {
	ID         int64      `json:"id"`
	MemberID   int64      `json:"-"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// CreateToken creates a personal access token for a member and returns it with
// its secret.
func (s *Store) CreateToken(ctx context.Context, memberID int64, name string) (APIToken, string, error) {
	var e validate.Errors
	name = strings.TrimSpace(name)
	validate.Required(&e, "name", name, 100)
	if err := e.Err(); err != nil {
		return APIToken{}, "", err
	}
	secret, hash := newSecret(TokenPrefix)
	t := APIToken{MemberID: memberID, Name: name, CreatedAt: db.Now()}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO api_tokens (member_id, name, token_hash, created_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, memberID, name, hash, t.CreatedAt).Scan(&t.ID)
	})
	if db.IsForeignKeyViolation(err) {
		return APIToken{}, "", ErrNotFound
	}
	if err != nil {
		return APIToken{}, "", fmt.Errorf("directory: create token: %w", err)
	}
	return t, secret, nil
}

// ListTokens returns a member's tokens, newest first.
func (s *Store) ListTokens(ctx context.Context, memberID int64) ([]APIToken, error) {
	rows, err := s.db.Query(ctx, `SELECT id, member_id, name, created_at, last_used_at FROM api_tokens
		WHERE member_id = $1 ORDER BY created_at DESC, id DESC`, memberID)
	if err != nil {
		return nil, fmt.Errorf("directory: list tokens: %w", err)
	}
	defer rows.Close()
	out := []APIToken{}
	for rows.Next() {
		var t APIToken
		var last sql.NullTime
		if err := rows.Scan(&t.ID, &t.MemberID, &t.Name, &t.CreatedAt, &last); err != nil {
			return nil, fmt.Errorf("directory: list tokens: %w", err)
		}
		if last.Valid {
			t.LastUsedAt = &last.Time
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes one of a member's tokens.
func (s *Store) RevokeToken(ctx context.Context, memberID, tokenID int64) error {
	res, err := s.db.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1 AND member_id = $2`, tokenID, memberID)
	if err != nil {
		return fmt.Errorf("directory: revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// TokenMember returns the member a token secret belongs to, or ErrNotFound.
func (s *Store) TokenMember(ctx context.Context, secret string) (Member, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Member{}, ErrNotFound
	}
	hash := hashSecret(secret)
	m, err := s.member(ctx, `api_tokens t JOIN members m ON m.id = t.member_id`, `t.token_hash = $1`, hash)
	if err != nil {
		return Member{}, err
	}
	// Record use at most once a minute: a write per API call would make every
	// read a write.
	now := db.Now()
	if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE token_hash = $1 AND (last_used_at IS NULL OR last_used_at < $3)`, hash, now, now.Add(-time.Minute)); err != nil {
		return Member{}, fmt.Errorf("directory: record token use: %w", err)
	}
	return m, nil
}
