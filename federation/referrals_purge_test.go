package federation

import (
	"context"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestPurgeReferralActivities(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := deliverFed(t, d, nil)
		coopID, _ := alpha(t, f)
		const body = `{"type":"Offer","object":{"content":"the client's words"}}`
		for _, a := range []struct {
			id, typ string
			public  bool
			age     time.Duration
		}{
			{"old-offer", "Offer", false, 100 * 24 * time.Hour},
			{"new-offer", "Offer", false, time.Hour},
			{"old-create", "Create", true, 100 * 24 * time.Hour},
		} {
			if _, err := d.Exec(ctx, `INSERT INTO activities (activity_id, coop_id, type, public, body, published_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, a.id, coopID, a.typ, a.public, body, db.Now().Add(-a.age)); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []int{1, 0} {
			n, err := f.PurgeReferralActivities(ctx, 90*24*time.Hour)
			if err != nil || n != want {
				t.Fatalf("purged %d, %v; want %d", n, err, want)
			}
		}
		for id, want := range map[string]string{"old-offer": "{}", "new-offer": body, "old-create": body} {
			var got string
			if err := d.QueryRow(ctx, `SELECT body FROM activities WHERE activity_id = $1`, id).Scan(&got); err != nil || got != want {
				t.Errorf("%s: body %q, %v; want %q", id, got, err, want)
			}
		}
	})
}
