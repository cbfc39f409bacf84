package directory

import (
	"context"
	"fmt"
)

// Reading the coops learned from peers, for the pages that show them. Their
// writing is in remote.go.

// ListRemoteCoops returns the coops hosted on peer nodes, by name. With
// discoverableOnly, those that did not opt in to being listed are left out:
// that is what a public directory shows.
func (s *Store) ListRemoteCoops(ctx context.Context, discoverableOnly bool) ([]KnownCoop, error) {
	where := `c.domain <> ''`
	if discoverableOnly {
		where += ` AND c.discoverable`
	}
	rows, err := s.db.Query(ctx, `SELECT `+knownCoopColumns+` FROM coops c WHERE `+where+` ORDER BY c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("directory: list remote coops: %w", err)
	}
	return scanKnownCoops(rows)
}

// RemoteCoopByID returns the coop with that id if it is hosted on a peer
// node, or ErrNotFound (also for a coop hosted here).
func (s *Store) RemoteCoopByID(ctx context.Context, id int64) (KnownCoop, error) {
	return s.remoteCoop(ctx, `c.id = $1`, id)
}
