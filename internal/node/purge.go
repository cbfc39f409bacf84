package node

import (
	"context"
	"time"
)

// Client contact details are kept only as long as a coop may need them: a
// request's contact details are deleted, and its free text cleared, some
// time after it closes (referrals.Store.PurgeContacts).
const (
	// DefaultContactRetention is how long after a request closes its
	// contact details are kept, unless Config.ContactRetention says.
	DefaultContactRetention = 90 * 24 * time.Hour
	// purgeEvery is how often the purge runs. A ticker in each process, not
	// a job: the purge is one idempotent statement pair, safe to run on
	// several processes sharing a PostgreSQL at once, and an hour late is
	// nothing against a retention counted in days.
	purgeEvery = time.Hour
)

// ContactRetention is how long after a request closes its client's contact
// details are kept.
func (n *Node) ContactRetention() time.Duration { return n.retention }

// PurgeOnce deletes the contact details of requests closed longer ago than
// the node's retention, and blanks the referral Offers sent before then,
// and returns how many requests it purged. Serve runs it at start and
// every hour.
func (n *Node) PurgeOnce(ctx context.Context) (int, error) {
	purged, err := n.Referrals.PurgeContacts(ctx, n.retention)
	if err != nil {
		return purged, err
	}
	if _, err := n.Federation.PurgeReferralActivities(ctx, n.retention); err != nil {
		return purged, err
	}
	return purged, nil
}

// purgeLoop runs PurgeOnce now and every purgeEvery until ctx ends. A failed
// purge is logged and tried again at the next tick.
func (n *Node) purgeLoop(ctx context.Context) {
	tick := time.NewTicker(purgeEvery)
	defer tick.Stop()
	for {
		switch purged, err := n.PurgeOnce(ctx); {
		case err != nil && ctx.Err() == nil:
			n.log.Error("purge of contact details failed; trying again in an hour", "error", err)
		case purged > 0:
			n.log.Info("contact details purged", "requests", purged, "closed_before", time.Now().Add(-n.retention).UTC().Format(time.DateOnly))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
