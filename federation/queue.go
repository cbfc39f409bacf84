package federation

import (
	"context"
	"database/sql"
)

// queue runs deliveries.
type queue struct{}

func newQueue(f *Federation) (*queue, error)     { return &queue{}, nil }
func (q *queue) start(ctx context.Context) error { return nil }
func (q *queue) stop(ctx context.Context) error  { return nil }

// deliverToFollowers queues, inside tx, the delivery of the stored activity
// activityID (a row of activities) to every accepted follower of the coop,
// once per shared inbox.
func (f *Federation) deliverToFollowers(ctx context.Context, tx *sql.Tx, coopID, activityID int64) error {
	return nil
}

// deliverTo queues, inside tx, the delivery of the stored activity to inboxes.
func (f *Federation) deliverTo(ctx context.Context, tx *sql.Tx, coopID, activityID int64, inboxes []string) error {
	return nil
}
