// Package migrations holds the database schema as numbered SQL files, embedded
// in the binary and applied at start.
package migrations

import (
	"context"
	"embed"

	"github.com/coopnet/coopnet/internal/db"
)

//go:embed *.sql
var files embed.FS

// Apply brings the database's schema up to date and returns the names of the
// migrations it applied.
func Apply(ctx context.Context, d *db.DB) ([]string, error) {
	ms, err := db.ReadMigrations(files)
	if err != nil {
		return nil, err
	}
	return d.Migrate(ctx, ms)
}
