package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// statsWorld has alpha refer one request to beta, which takes it and
// completes the work, and one to a peer named like a spreadsheet formula.
func statsWorld(t *testing.T, d *db.DB) *refWorld {
	t.Helper()
	w := newRefWorld(t, newTestNodeOn(t, d))
	ctx := context.Background()
	w.dirAddPeer(t, "evil.example", directory.Coop{Name: "=HYPERLINK(\"http://evil.example\")", Discoverable: true},
		directory.Service{Title: "Anything", Category: "other", Pricing: "fixed"})
	r, _ := w.request(t, nil, nil)
	ref, atBeta := w.referToBeta(t, r)
	if _, err := w.refs.AcceptReceived(ctx, w.beta.ID, atBeta.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.refs.RecordAccepted(ctx, answerTo(ref, "")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		coop directory.Coop
		id   int64
	}{{w.coop, r.ID}, {w.beta, atBeta.ID}} {
		if _, err := w.refs.MarkOutcome(ctx, c.coop.ID, c.id, referrals.OutcomeCompleted); err != nil {
			t.Fatal(err)
		}
	}
	r2, _ := w.request(t, nil, nil)
	if _, err := w.refs.Refer(ctx, w.coop.ID, r2.ID, []referrals.Peer{{ActorID: "https://evil.example/coops/evil",
		Name: "=HYPERLINK(\"http://evil.example\")"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestReferralStatsPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := statsWorld(t, d)
		month := time.Now().UTC().Format("2006-01")

		rec := w.pageGet(t, "/manage/referrals/stats", w.alphaCookie)
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "<h1>Cooperation among cooperatives</h1>",
			`<th scope="row">Beta Design Coop</th><td>1</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td>`,
			`<td>`+month+`</td><th scope="row">Beta Design Coop</th>`, `value="`+time.Now().UTC().Format(time.DateOnly)+`"`,
			`href="/manage/referrals/stats.csv?from=`)
		rec = w.pageGet(t, "/manage/referrals/stats", w.betaCookie)
		pageWantBody(t, rec, `<th scope="row">Alpha Tech Coop</th><td>0</td><td>0</td><td>0</td><td>1</td><td>1</td><td>1</td>`)

		rec = w.pageGet(t, "/manage/referrals/stats?from=2001-01-01&to=2001-12-31", w.alphaCookie)
		pageWantBody(t, rec, "No referrals in this period.", `value="2001-01-01"`)

		rec = w.pageGet(t, "/manage/referrals/stats?from=soon&to=2001-01-01", w.alphaCookie)
		pageWantStatus(t, rec, http.StatusBadRequest)
		pageWantBody(t, rec, "From must be a date such as 2030-01-31.", `value="soon"`)
		rec = w.pageGet(t, "/manage/referrals/stats?from=2002-01-01&to=2001-01-01", w.alphaCookie)
		pageWantStatus(t, rec, http.StatusBadRequest)
		pageWantBody(t, rec, "To (included) must not be before the start.")
	})
}

func TestReferralStatsCSV(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := statsWorld(t, d)
		month := time.Now().UTC().Format("2006-01")
		rec := w.pageGet(t, "/manage/referrals/stats.csv", w.alphaCookie)
		pageWantStatus(t, rec, http.StatusOK)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, `attachment; filename="coopnet-referrals-`) {
			t.Errorf("Content-Disposition %q", cd)
		}
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"month", "peer", "peer_name", "sent", "sent_accepted", "sent_completed", "received", "received_accepted", "received_completed"},
			{month, "http://localhost:8080/coops/beta", "Beta Design Coop", "1", "1", "1", "0", "0", "0"},
			{month, "https://evil.example/coops/evil", `'=HYPERLINK("http://evil.example")`, "1", "0", "0", "0", "0", "0"},
			{"total", "http://localhost:8080/coops/beta", "Beta Design Coop", "1", "1", "1", "0", "0", "0"},
			{"total", "https://evil.example/coops/evil", `'=HYPERLINK("http://evil.example")`, "1", "0", "0", "0", "0", "0"},
		}
		if len(rows) != len(want) {
			t.Fatalf("rows %q, want %q", rows, want)
		}
		for i := range want {
			if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
				t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
			}
		}
		pageWantStatus(t, w.pageGet(t, "/manage/referrals/stats.csv?to=x", w.alphaCookie), http.StatusBadRequest)
		pageWantRedirect(t, w.pageGet(t, "/manage/referrals/stats.csv", ""), "/login?next=%2Fmanage%2Freferrals%2Fstats.csv")
	})
}
