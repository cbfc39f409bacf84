package directory

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coopnet/coopnet/internal/db"
)

// Errors the store returns; callers compare with errors.Is.
var (
	ErrNotFound       = errors.New("directory: not found")
	ErrConflict       = errors.New("directory: already exists")
	ErrAlreadySetUp   = errors.New("directory: the node is already set up")
	ErrBadCredentials = errors.New("directory: wrong e-mail or password")
	ErrLastAdmin      = errors.New("directory: a coop needs at least one admin")
)

// Store keeps coops, services and members in the database.
type Store struct {
	db         *db.DB
	bcryptCost int
	hooks      []ChangeHook
	changed    chan struct{} // wakes the Directory after a change (feed.go)
}

// NewStore returns a store over d. bcryptCost is the cost of password hashes
// (0 means bcrypt's default; tests use the minimum to stay fast).
func NewStore(d *db.DB, bcryptCost int) *Store {
	return &Store{db: d, bcryptCost: bcryptCost, changed: make(chan struct{}, 1)}
}

// DB returns the database the store writes to.
func (s *Store) DB() *db.DB { return s.db }

// list is a []string kept in one TEXT column as a JSON array: the same in both
// databases, and small lists are read whole anyway.
type list []string

func (l list) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

func (l *list) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*l = list{}
		return nil
	default:
		return fmt.Errorf("directory: list column holds %T", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("directory: list column: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}
