package directory

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/validate"
)

// Role is what a member may do: admins also manage members and the node.
type Role string

// The member roles.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Member is a person who runs one of the node's coops.
type Member struct {
	ID          int64      `json:"id"`
	CoopID      int64      `json:"-"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

// IsAdmin reports whether the member is an admin of their coop.
func (m Member) IsAdmin() bool { return m.Role == RoleAdmin }

// SettingBaseURL is the node setting holding the public URL fixed at setup.
const SettingBaseURL = "base_url"

// SetupInput is what it takes to set up a node: its first coop and admin.
// Validation errors name the fields coop_name, slug, admin_name, email and
// password.
type SetupInput struct {
	CoopName   string
	Slug       string
	AdminName  string
	AdminEmail string
	Password   string
}

// Setup creates the node's first coop and its first admin, and fixes the node's
// base URL. It fails with ErrAlreadySetUp once the node has a coop.
func (s *Store) Setup(ctx context.Context, in SetupInput, baseURL string) (Coop, Member, error) {
	// Errors are keyed by the setup form's field names.
	var e validate.Errors
	c := Coop{Slug: strings.TrimSpace(in.Slug), Name: in.CoopName, Capacity: CapacityOpen, Discoverable: true}
	if err := c.Normalize(); err != nil {
		var ve *validate.Error
		errors.As(err, &ve)
		for k, v := range ve.Fields {
			if k == "name" {
				k = "coop_name"
			}
			e.Add(k, v)
		}
	}
	m := Member{Name: strings.TrimSpace(in.AdminName), Email: normalEmail(in.AdminEmail), Role: RoleAdmin}
	checkMember(&e, "admin_name", m, in.Password)
	if err := e.Err(); err != nil {
		return Coop{}, Member{}, err
	}
	hash, err := s.hash(in.Password)
	if err != nil {
		return Coop{}, Member{}, err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		// The setup_done row is the guard: its primary key lets exactly one
		// setup through, even two at once on PostgreSQL.
		_, err := tx.ExecContext(ctx, `INSERT INTO node_settings (key, value) VALUES ('setup_done', 'true')`)
		if db.IsUniqueViolation(err) {
			return ErrAlreadySetUp
		}
		if err != nil {
			return fmt.Errorf("directory: setup: %w", err)
		}
		if err := insertCoop(ctx, tx, &c); err != nil {
			return err
		}
		m.CoopID = c.ID
		if err := insertMember(ctx, tx, &m, hash); err != nil {
			return err
		}
		return db.SetSetting(ctx, tx, SettingBaseURL, baseURL)
	})
	if err != nil {
		return Coop{}, Member{}, err
	}
	return c, m, nil
}

// IsSetUp reports whether the node has been set up.
func (s *Store) IsSetUp(ctx context.Context) (bool, error) {
	_, ok, err := s.db.Setting(ctx, "setup_done")
	return ok, err
}

// normalEmail lower-cases and trims an address; one that is not clean text
// becomes "", which matches no member (and is refused where one is created).
func normalEmail(s string) string {
	if !validate.IsCleanText(s) {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(s))
}

func checkMember(e *validate.Errors, nameField string, m Member, password string) {
	validate.MaxLen(e, nameField, m.Name, 100)
	validate.Required(e, "email", m.Email, 254)
	validate.Email(e, "email", m.Email)
	CheckPassword(e, "password", password)
}

// CheckPassword checks a new password's length. bcrypt reads at most 72 bytes.
func CheckPassword(e *validate.Errors, field, password string) {
	switch {
	case len([]rune(password)) < 10:
		e.Add(field, "must be at least 10 characters")
	case len(password) > 72:
		e.Add(field, "must be at most 72 bytes")
	}
}

func (s *Store) hash(password string) (string, error) {
	cost := s.bcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("directory: hash password: %w", err)
	}
	return string(h), nil
}

func insertMember(ctx context.Context, tx *sql.Tx, m *Member, hash string) error {
	now := db.Now()
	err := tx.QueryRowContext(ctx, `INSERT INTO members (coop_id, email, name, password_hash, role, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, m.CoopID, m.Email, m.Name, hash, string(m.Role), now).Scan(&m.ID)
	if db.IsUniqueViolation(err) {
		return &validate.Error{Fields: validate.Errors{"email": "a member with this e-mail address already exists"}}
	}
	if err != nil {
		return fmt.Errorf("directory: insert member: %w", err)
	}
	m.CreatedAt = now
	return nil
}

const memberColumns = `m.id, m.coop_id, m.email, m.name, m.role, m.created_at, m.last_login_at`

func scanMember(row scanner) (Member, error) {
	var m Member
	var last sql.NullTime
	err := row.Scan(&m.ID, &m.CoopID, &m.Email, &m.Name, &m.Role, &m.CreatedAt, &last)
	m.CreatedAt = m.CreatedAt.UTC()
	if last.Valid {
		t := last.Time.UTC()
		m.LastLoginAt = &t
	}
	return m, err
}

func (s *Store) member(ctx context.Context, from, where string, args ...any) (Member, error) {
	m, err := scanMember(s.db.QueryRow(ctx, `SELECT `+memberColumns+` FROM `+from+` WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, ErrNotFound
	}
	if err != nil {
		return Member{}, fmt.Errorf("directory: read member: %w", err)
	}
	return m, nil
}

// MemberByID returns a member, or ErrNotFound.
func (s *Store) MemberByID(ctx context.Context, id int64) (Member, error) {
	return s.member(ctx, `members m`, `m.id = $1`, id)
}

// MemberByEmail returns the member with that e-mail address, or ErrNotFound.
func (s *Store) MemberByEmail(ctx context.Context, email string) (Member, error) {
	return s.member(ctx, `members m`, `m.email = $1`, normalEmail(email))
}

// ListMembers returns a coop's members by name.
func (s *Store) ListMembers(ctx context.Context, coopID int64) ([]Member, error) {
	rows, err := s.db.Query(ctx, `SELECT `+memberColumns+` FROM members m WHERE m.coop_id = $1 ORDER BY m.name, m.email`, coopID)
	if err != nil {
		return nil, fmt.Errorf("directory: list members: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("directory: list members: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Mailing is who hears about a coop's work: its name, its public contact
// address (where clients' replies go; may be empty) and its members'
// e-mail addresses.
type Mailing struct {
	Name         string
	ContactEmail string
	Members      []string
}

// MailingTx reads a coop's Mailing through tx, for change hooks that run
// inside a write transaction: on SQLite that transaction holds the one write
// connection, and on PostgreSQL a read from the pool meanwhile could wait for
// a connection the hook's own transaction holds. ErrNotFound for no coop.
func (s *Store) MailingTx(ctx context.Context, tx *sql.Tx, coopID int64) (Mailing, error) {
	var m Mailing
	err := tx.QueryRowContext(ctx, `SELECT name, contact_email FROM coops WHERE id = $1`, coopID).Scan(&m.Name, &m.ContactEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return Mailing{}, ErrNotFound
	}
	if err != nil {
		return Mailing{}, fmt.Errorf("directory: read coop %d: %w", coopID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT email FROM members WHERE coop_id = $1 ORDER BY email`, coopID)
	if err != nil {
		return Mailing{}, fmt.Errorf("directory: list members of coop %d: %w", coopID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var email string
		if err := rows.Scan(&email); err != nil {
			return Mailing{}, fmt.Errorf("directory: list members of coop %d: %w", coopID, err)
		}
		m.Members = append(m.Members, email)
	}
	return m, rows.Err()
}

// dummyHash is compared against when no member has the e-mail address, so that
// a login takes as long whether or not the address is known. It is made on first
// use, not at start: hashing is deliberately slow.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)
	return h
})

// Authenticate returns the member with that e-mail address and password, or
// ErrBadCredentials.
func (s *Store) Authenticate(ctx context.Context, email, password string) (Member, error) {
	var hash string
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id, password_hash FROM members WHERE email = $1`, normalEmail(email)).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return Member{}, ErrBadCredentials
	}
	if err != nil {
		return Member{}, fmt.Errorf("directory: authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return Member{}, ErrBadCredentials
	}
	if _, err := s.db.Exec(ctx, `UPDATE members SET last_login_at = $2 WHERE id = $1`, id, db.Now()); err != nil {
		return Member{}, fmt.Errorf("directory: record login: %w", err)
	}
	return s.MemberByID(ctx, id)
}

// RemoveMember removes a member from a coop, with their sessions and tokens. A
// coop's last admin cannot be removed.
func (s *Store) RemoveMember(ctx context.Context, coopID, memberID int64) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var role string
		err := tx.QueryRowContext(ctx, `SELECT role FROM members WHERE id = $1 AND coop_id = $2`, memberID, coopID).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("directory: remove member: %w", err)
		}
		if Role(role) == RoleAdmin {
			var admins int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM members WHERE coop_id = $1 AND role = 'admin'`, coopID).Scan(&admins); err != nil {
				return fmt.Errorf("directory: remove member: %w", err)
			}
			if admins <= 1 {
				return ErrLastAdmin
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE id = $1`, memberID); err != nil {
			return fmt.Errorf("directory: remove member: %w", err)
		}
		return nil
	})
}

// newSecret returns a random token with a readable prefix, and the hash under
// which it is stored.
func newSecret(prefix string) (secret, hash string) {
	var b [32]byte
	rand.Read(b[:])
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashSecret(secret)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
