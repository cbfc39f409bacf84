package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestRequestStatusPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()

		t.Run("steps in plain words, and the link kept private", func(t *testing.T) {
			r, token := w.request(t, nil, nil)
			rec := w.pageGet(t, "/requests/"+token, "")
			pageWantStatus(t, rec, http.StatusOK)
			wantPrivate(t, rec)
			pageWantBody(t, rec, "<h1>Your request to Alpha Tech Coop</h1>", "Received: the coop will look at it soon.",
				"Request received", "Friends of the Park", "Data and CRM", "2000 to 5000 EUR", "Madrid, Spain",
				"Withdraw my request", `action="/requests/`+token+`/withdraw"`)
			pageWantNoBody(t, rec, "pat@park.example") // contact details stay off the page

			ref, _ := w.referToBeta(t, r)
			if _, err := w.refs.RecordRejected(ctx, answerTo(ref, "we are full")); err != nil {
				t.Fatal(err)
			}
			if _, err := w.refs.Decline(ctx, w.coop.ID, r.ID, "We cannot do databases this year."); err != nil {
				t.Fatal(err)
			}
			rec = w.pageGet(t, "/requests/"+token, "")
			pageWantBody(t, rec, "Sent to Beta Design Coop", "Beta Design Coop could not take it",
				"Declined: We cannot do databases this year.", "<p class=\"lead\" id=\"state\">Declined.</p>")
			pageWantNoBody(t, rec, "we are full", "Withdraw my request") // a peer's reason is for members
		})

		t.Run("the client withdraws, once", func(t *testing.T) {
			r, token := w.request(t, nil, nil)
			ref, _ := w.referToBeta(t, r)
			rec := w.postForm(t, "/requests/"+token+"/withdraw", url.Values{}, "")
			pageWantRedirect(t, rec, "/requests/"+token+"?done=withdrawn")
			wantPrivate(t, rec)
			rec = w.pageGet(t, "/requests/"+token+"?done=withdrawn", "")
			pageWantBody(t, rec, "Your request is withdrawn.", "You withdrew this request", "<p class=\"lead\" id=\"state\">Withdrawn.</p>")
			pageWantNoBody(t, rec, "Withdraw my request")
			refs, err := w.refs.Referrals(ctx, w.coop.ID, r.ID)
			if err != nil || len(refs) != 1 || refs[0].ID != ref.ID || refs[0].State != "withdrawn" {
				t.Errorf("the open offer was not withdrawn with the request: %+v, %v", refs, err)
			}

			rec = w.postForm(t, "/requests/"+token+"/withdraw", url.Values{}, "")
			pageWantStatus(t, rec, http.StatusConflict)
			pageWantBody(t, rec, "Your request can no longer be withdrawn")
		})

		t.Run("an unknown link is a 404 that stays private", func(t *testing.T) {
			for _, p := range []string{"/requests/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/requests/x", "/requests/%ff%00"} {
				rec := w.pageGet(t, p, "")
				pageWantStatus(t, rec, http.StatusNotFound)
				pageWantBody(t, rec, "There is no request at this address.")
				wantPrivate(t, rec)
				pageWantStatus(t, w.postForm(t, p+"/withdraw", url.Values{}, ""), http.StatusNotFound)
			}
		})
	})
}

func TestRedactURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/requests/abcDEF_-123", "/requests/[redacted]"},
		{"/requests/abc/withdraw?done=x", "/requests/[redacted]/withdraw?done=x"},
		{"/api/v1/requests/abc", "/api/v1/requests/[redacted]"},
		{"/coops/alpha/requests", "/coops/alpha/requests"},
		{"/manage/referrals/3", "/manage/referrals/3"},
	}
	for _, tt := range tests {
		if got := redactURI(tt.in); got != tt.want {
			t.Errorf("redactURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
