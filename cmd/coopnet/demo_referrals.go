package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/referrals"
)

// demoIntake is the demo's sample work request: a food bank writes to the
// web coop, which refers it to the data coop, better suited to the work.
func demoIntake() referrals.Intake {
	budgetMin, budgetMax := int64(3000), int64(6000)
	return referrals.Intake{
		Details: referrals.Details{Organization: "Riverside Food Bank",
			Description: "We coordinate 300 volunteers with spreadsheets and lose track of shifts. " +
				"We would like a CRM our coordinators can use, and a short training for them.",
			Categories: []string{"data-crm", "training"}, Skills: []string{"CiviCRM"},
			BudgetMin: &budgetMin, BudgetMax: &budgetMax, Currency: "CAD",
			Deadline: time.Now().AddDate(0, 3, 0).Format(time.DateOnly), Country: "CA", Language: "en",
			ConsentToShare: true},
		Contact: referrals.Contact{Name: "Sam Rivera", Email: "sam@riverside-foodbank.example"},
	}
}

// seedDemoReferral records the sample request at from's coop and refers it
// to to's coop; the nodes carry the Offer as they would any other. A kept
// data directory that has requests already is left as it is.
func seedDemoReferral(ctx context.Context, w io.Writer, from, to *demoNode) error {
	refs := from.node.Referrals
	held, err := refs.ListRequests(ctx, from.coop.ID, referrals.Filter{Limit: 1})
	if err != nil {
		return &runtimeError{fmt.Errorf("demo: sample work request: %w", err)}
	}
	if len(held) > 0 {
		return nil
	}
	at := referrals.Local{CoopID: from.coop.ID, ActorID: from.url + federation.ActorPath(from.coop.Slug)}
	r, token, err := refs.CreateRequest(ctx, at, demoIntake())
	if err != nil {
		return &runtimeError{fmt.Errorf("demo: sample work request: %w", err)}
	}
	peer := referrals.Peer{ActorID: to.url + federation.ActorPath(to.coop.Slug), Name: to.coop.Name}
	if _, err := refs.Refer(ctx, from.coop.ID, r.ID, []referrals.Peer{peer}); err != nil {
		return &runtimeError{fmt.Errorf("demo: refer the sample work request: %w", err)}
	}
	fmt.Fprintf(w, "a sample work request at %s was referred to %s: members see it under Work requests on both nodes; its client follows it at %s/requests/%s\n",
		from.coop.Slug, to.coop.Slug, from.url, url.PathEscape(token))
	return nil
}
