package federation

import (
	"context"
	"database/sql"

	"github.com/coopnet/coopnet/directory"
)

// publish records the activity for a change and delivers it to followers.
func (f *Federation) publish(ctx context.Context, tx *sql.Tx, ch directory.Change) error { return nil }
