package directory

import (
	"errors"

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

// list is a []string kept in one TEXT column as a JSON array.
type list = db.List
