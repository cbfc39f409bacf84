package federation

import (
	"context"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// PurgeReferralActivities blanks the stored bodies of the referral Offers
// this node sent longer ago than olderThan. An Offer carries the client's
// words and their contact details (encrypted to the peer); once delivered
// it is needed only as a record that it was sent, which the row without its
// body still is. Referrals expire long before any sensible retention, so no
// delivery still needs the body.
func (f *Federation) PurgeReferralActivities(ctx context.Context, olderThan time.Duration) (int, error) {
	res, err := f.db.Exec(ctx, `UPDATE activities SET body = '{}'
		WHERE type = 'Offer' AND NOT public AND published_at < $1 AND body <> '{}'`, db.Now().Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("federation: purge referral offers: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("federation: purge referral offers: %w", err)
	}
	return int(n), nil
}
