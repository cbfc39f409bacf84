package directory

import (
	"context"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// CreateSession starts a login session for a member and returns its secret,
// to be kept in the browser's cookie.
func (s *Store) CreateSession(ctx context.Context, memberID int64, ttl time.Duration) (string, error) {
	secret, hash := newSecret("")
	now := db.Now()
	_, err := s.db.Exec(ctx, `INSERT INTO sessions (token_hash, member_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hash, memberID, now, now.Add(ttl))
	if err != nil {
		return "", fmt.Errorf("directory: create session: %w", err)
	}
	// Expired sessions are cleared here, where sessions are written anyway.
	if _, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, now); err != nil {
		return "", fmt.Errorf("directory: clear sessions: %w", err)
	}
	return secret, nil
}

// SessionMember returns the member logged in with a session secret, or
// ErrNotFound when the session is unknown or expired.
func (s *Store) SessionMember(ctx context.Context, secret string) (Member, error) {
	if secret == "" {
		return Member{}, ErrNotFound
	}
	return s.member(ctx, `sessions s JOIN members m ON m.id = s.member_id`,
		`s.token_hash = $1 AND s.expires_at > $2`, hashSecret(secret), db.Now())
}

// DeleteSession ends a session (logout).
func (s *Store) DeleteSession(ctx context.Context, secret string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hashSecret(secret)); err != nil {
		return fmt.Errorf("directory: delete session: %w", err)
	}
	return nil
}
