package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

const apiGoodRequest = `{"organization": "Friends of the Park", "contact_name": "Pat Doe", "email": "pat@park.example",
	"description": "We need a CiviCRM database for our donors.", "categories": ["data-crm"], "skills": ["CiviCRM"],
	"budget_min": 2000, "budget_max": 5000, "currency": "EUR", "country": "ES", "language": "es", "consent_to_share": true}`

func TestAPIRequestIntake(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()

		rec := w.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/requests", apiGoodRequest, "")
		created := apiRead[apiRequestCreated](t, rec, http.StatusCreated)
		wantPrivate(t, rec)
		token, ok := strings.CutPrefix(created.StatusURL, "http://localhost:8080/requests/")
		if !ok || created.StatusAPIURL != "http://localhost:8080/api/v1/requests/"+token || created.State != "new" ||
			rec.Header().Get("Location") != created.StatusAPIURL {
			t.Fatalf("created %+v, Location %q", created, rec.Header().Get("Location"))
		}
		r, err := w.refs.RequestByStatusToken(ctx, token)
		if err != nil || r.PublicID != created.ID || r.Organization != "Friends of the Park" || !r.ConsentToShare {
			t.Fatalf("stored %+v, %v", r, err)
		}

		t.Run("as a form", func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			rec := w.do(t, http.MethodPost, "/api/v1/coops/alpha/requests", strings.NewReader(goodRequest().Encode()), h)
			apiRead[apiRequestCreated](t, rec, http.StatusCreated)
			before := w.requestCount(t, w.coop.ID)
			form := goodRequest()
			form.Set("website", "http://spam.example")
			rec = w.do(t, http.MethodPost, "/api/v1/coops/alpha/requests", strings.NewReader(form.Encode()), h)
			fake := apiRead[apiRequestCreated](t, rec, http.StatusCreated)
			if w.requestCount(t, w.coop.ID) != before {
				t.Error("the honeypot's request was stored")
			}
			apiWantError(t, w.apiCall(t, http.MethodGet, strings.TrimPrefix(fake.StatusAPIURL, testBase), "", ""), http.StatusNotFound)
			form = goodRequest()
			form.Set("budget_max", "a lot")
			rec = w.do(t, http.MethodPost, "/api/v1/coops/alpha/requests", strings.NewReader(form.Encode()), h)
			apiWantError(t, rec, http.StatusBadRequest, "budget_max")
		})

		t.Run("bad input names the fields, and stores nothing", func(t *testing.T) {
			before := w.requestCount(t, w.coop.ID)
			rec := w.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/requests",
				`{"email": "nope", "description": "", "budget_min": 10, "categories": ["plumbing"], "deadline": "2001-01-01"}`, "")
			apiWantError(t, rec, http.StatusBadRequest, "email", "description", "currency", "categories", "deadline")
			rec = w.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/requests", `{"email": "a@b.example", "website": "x"}`, "")
			apiWantError(t, rec, http.StatusBadRequest, "website")
			rec = w.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/requests", `{"budget_min": "ten"}`, "")
			apiWantError(t, rec, http.StatusBadRequest, "budget_min")
			h := http.Header{"Content-Type": {"text/plain"}}
			apiWantError(t, w.do(t, http.MethodPost, "/api/v1/coops/alpha/requests", strings.NewReader("hi"), h),
				http.StatusUnsupportedMediaType)
			apiWantError(t, w.apiCall(t, http.MethodPost, "/api/v1/coops/nobody/requests", apiGoodRequest, ""), http.StatusNotFound)
			if got := w.requestCount(t, w.coop.ID); got != before {
				t.Errorf("refused requests were stored: %d, want %d", got, before)
			}
		})

		t.Run("the status link", func(t *testing.T) {
			rec := w.apiCall(t, http.MethodGet, "/api/v1/requests/"+token, "", "")
			st := apiRead[apiRequestStatus](t, rec, http.StatusOK)
			wantPrivate(t, rec)
			if st.ID != r.PublicID || st.Coop != "alpha" || st.State != "new" || !st.CanWithdraw || len(st.Trail) != 1 ||
				st.Trail[0].Text != "Request received" || st.Organization != "Friends of the Park" {
				t.Errorf("status %+v", st)
			}
			if strings.Contains(rec.Body.String(), "pat@park.example") {
				t.Error("the status shows the contact details")
			}
			rec = w.apiCall(t, http.MethodGet, "/api/v1/requests/nothing-here", "", "")
			apiWantError(t, rec, http.StatusNotFound)
			wantPrivate(t, rec)

			rec = w.apiCall(t, http.MethodPost, "/api/v1/requests/"+token+"/withdraw", "", "")
			st = apiRead[apiRequestStatus](t, rec, http.StatusOK)
			if st.State != referrals.StateWithdrawn || st.CanWithdraw || st.Trail[len(st.Trail)-1].Text != "You withdrew this request" {
				t.Errorf("after withdrawing: %+v", st)
			}
			apiWantError(t, w.apiCall(t, http.MethodPost, "/api/v1/requests/"+token+"/withdraw", "", ""), http.StatusConflict)
			apiWantError(t, w.apiCall(t, http.MethodPost, "/api/v1/requests/nothing-here/withdraw", "", ""), http.StatusNotFound)
		})
	})
}

func TestAPIReferralsNeedAMember(t *testing.T) {
	w := newRefWorld(t, newTestNode(t))
	r, _ := w.request(t, nil, nil)
	id := fmt.Sprint(r.ID)
	routes := []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/coops/alpha/referrals", ""},
		{http.MethodGet, "/api/v1/coops/alpha/referrals/stats", ""},
		{http.MethodGet, "/api/v1/coops/alpha/referrals/" + id, ""},
		{http.MethodGet, "/api/v1/coops/alpha/referrals/" + id + "/suggestions", ""},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/take", ""},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/decline", `{"reason": "x"}`},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/accept", ""},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/reject", `{"reason": "x"}`},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/close", `{}`},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/refer", `{"peers": ["` + kiwiActor + `"]}`},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/withdraw", `{"referral_id": 1}`},
		{http.MethodPost, "/api/v1/coops/alpha/referrals/" + id + "/outcome", `{"outcome": "lost"}`},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			rec := w.apiCall(t, rt.method, rt.path, rt.body, "")
			apiWantError(t, rec, http.StatusUnauthorized)
			apiWantError(t, w.apiCall(t, rt.method, rt.path, rt.body, w.betaToken), http.StatusForbidden)
			other := strings.Replace(rt.path, "/alpha/", "/beta/", 1)
			if strings.Contains(rt.path, "/"+id) {
				// beta's member, on beta's coop, asking for alpha's request.
				apiWantError(t, w.apiCall(t, rt.method, other, rt.body, w.betaToken), http.StatusNotFound)
			}
		})
	}
	got, _ := w.refs.RequestByID(context.Background(), w.coop.ID, r.ID)
	if got.State != referrals.StateNew {
		t.Errorf("refused calls changed the request: %s", got.State)
	}
}

func TestAPIReferralMoves(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()
		r, _ := w.request(t, nil, nil)
		base := fmt.Sprintf("/api/v1/coops/alpha/referrals/%d", r.ID)

		list := apiRead[[]apiWorkRequest](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals", "", w.alphaToken), http.StatusOK)
		if len(list) != 1 || list[0].ID != r.ID || list[0].Source != "client" || list[0].URL != "http://localhost:8080"+referralURL(r.ID, "") {
			t.Fatalf("list %+v", list)
		}
		for _, q := range []string{"state=closed", "state=taken", "source=peers"} {
			if l := apiRead[[]apiWorkRequest](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals?"+q, "", w.alphaToken), http.StatusOK); len(l) != 0 {
				t.Errorf("?%s lists %d", q, len(l))
			}
		}
		apiWantError(t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals?state=nice&source=x&limit=-1", "", w.alphaToken),
			http.StatusBadRequest, "state", "source", "limit")

		detail := apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodGet, base, "", w.alphaToken), http.StatusOK)
		if detail.Contact == nil || detail.Contact.Email != "pat@park.example" || !detail.Moves.Take || !detail.Moves.Refer ||
			detail.Moves.Accept || len(detail.Trail) != 1 {
			t.Fatalf("detail %+v", detail)
		}
		apiWantError(t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals/999999", "", w.alphaToken), http.StatusNotFound)
		apiWantError(t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals/abc", "", w.alphaToken), http.StatusNotFound)

		sugg := apiRead[[]apiSuggestion](t, w.apiCall(t, http.MethodGet, base+"/suggestions", "", w.alphaToken), http.StatusOK)
		if len(sugg) != 2 || sugg[0].ActorID != testActor("beta") || sugg[1].ActorID != kiwiActor || len(sugg[0].Reasons) == 0 {
			t.Fatalf("suggestions %+v", sugg)
		}

		// Refer to both, withdraw one, refuse the other's decline.
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/refer", `{"peers": []}`, w.alphaToken), http.StatusBadRequest, "peers")
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/refer", `{"peers": ["https://x.example/coops/x"]}`, w.alphaToken),
			http.StatusBadRequest, "peers")
		detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, base+"/refer",
			`{"peers": ["`+testActor("beta")+`", "`+kiwiActor+`"]}`, w.alphaToken), http.StatusOK)
		if detail.State != referrals.StateReferred || len(detail.Referrals) != 2 || len(detail.Moves.Withdraw) != 2 {
			t.Fatalf("after refer %+v", detail)
		}
		refs, _ := w.refs.Referrals(ctx, w.coop.ID, r.ID)
		if len(refs) != 2 || refs[0].State != referrals.OfferOffered || refs[1].Peer.ActorID != kiwiActor {
			t.Fatalf("stored referrals %+v", refs)
		}
		e := apiWantError(t, w.apiCall(t, http.MethodPost, base+"/take", "", w.alphaToken), http.StatusConflict)
		if !strings.Contains(e.Message, "offers still open") {
			t.Errorf("409 message %q", e.Message)
		}
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/refer", `{"peers": ["`+kiwiActor+`"]}`, w.alphaToken), http.StatusConflict)
		detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, base+"/withdraw",
			fmt.Sprintf(`{"referral_id": %d}`, refs[1].ID), w.alphaToken), http.StatusOK)
		if detail.Referrals[1].State != referrals.OfferWithdrawn {
			t.Errorf("after withdraw %+v", detail.Referrals)
		}
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/withdraw", `{"referral_id": 424242}`, w.alphaToken), http.StatusNotFound)
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/withdraw", `{"referal": 1}`, w.alphaToken), http.StatusBadRequest, "referal")

		// At beta, the referral is accepted: reject needs a reason first.
		refs[0].OfferID = offerIDOf(w.coop, refs[0])
		atBeta := w.deliver(t, w.coop, refs[0])
		betaBase := fmt.Sprintf("/api/v1/coops/beta/referrals/%d", atBeta.ID)
		peers := apiRead[[]apiWorkRequest](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/beta/referrals?source=peers", "", w.betaToken), http.StatusOK)
		if len(peers) != 1 || peers[0].Source != "peer" || peers[0].FromActor != testActor("alpha") {
			t.Fatalf("beta's inbox %+v", peers)
		}
		apiWantError(t, w.apiCall(t, http.MethodPost, betaBase+"/reject", `{"reason": ""}`, w.betaToken), http.StatusBadRequest, "reason")
		detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, betaBase+"/accept", "", w.betaToken), http.StatusOK)
		if detail.State != referrals.StateTaken || detail.Source != "peer" || detail.Moves.Accept || len(detail.Moves.Outcomes) != 3 {
			t.Fatalf("beta after accept %+v", detail)
		}
		// Federation carries the Accept back to alpha.
		if _, err := w.refs.RecordAccepted(ctx, answerTo(refs[0], "")); err != nil {
			t.Fatal(err)
		}
		apiWantError(t, w.apiCall(t, http.MethodPost, base+"/outcome", `{"outcome": "won"}`, w.alphaToken), http.StatusBadRequest, "outcome")
		for _, b := range []string{base, betaBase} {
			token := map[bool]string{true: w.alphaToken, false: w.betaToken}[b == base]
			detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, b+"/outcome", `{"outcome": "completed"}`, token), http.StatusOK)
			if detail.Outcome != referrals.OutcomeCompleted {
				t.Errorf("%s: outcome %q", b, detail.Outcome)
			}
		}
		e = apiWantError(t, w.apiCall(t, http.MethodPost, base+"/decline", `{"reason": "late"}`, w.alphaToken), http.StatusConflict)
		if e.Message != "Cannot decline the request: it is accepted." {
			t.Errorf("409 message %q", e.Message)
		}

		// Moves meant for the other kind of request are refused.
		r2, _ := w.request(t, nil, nil)
		base2 := fmt.Sprintf("/api/v1/coops/alpha/referrals/%d", r2.ID)
		apiWantError(t, w.apiCall(t, http.MethodPost, base2+"/accept", "", w.alphaToken), http.StatusConflict)
		apiWantError(t, w.apiCall(t, http.MethodPost, base2+"/reject", `{"reason": "no"}`, w.alphaToken), http.StatusConflict)
		apiWantError(t, w.apiCall(t, http.MethodPost, base2+"/close", `{}`, w.alphaToken), http.StatusConflict)
		apiWantError(t, w.apiCall(t, http.MethodPost, base2+"/decline", `{"reason": 3}`, w.alphaToken), http.StatusBadRequest, "reason")
		apiWantError(t, w.apiCall(t, http.MethodPost, base2+"/decline", "reason=x", w.alphaToken), http.StatusBadRequest)
		detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, base2+"/decline", `{"reason": "Too big for us."}`, w.alphaToken), http.StatusOK)
		if detail.State != referrals.StateDeclined || detail.Trail[len(detail.Trail)-1].Text != "Declined: Too big for us." {
			t.Errorf("after decline %+v", detail)
		}
		r3, _ := w.request(t, nil, nil)
		detail = apiRead[apiWorkRequestDetail](t, w.apiCall(t, http.MethodPost, fmt.Sprintf("/api/v1/coops/alpha/referrals/%d/take", r3.ID), "", w.alphaToken), http.StatusOK)
		if detail.State != referrals.StateTaken {
			t.Errorf("after take %+v", detail)
		}
		if l := apiRead[[]apiWorkRequest](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals?state=closed", "", w.alphaToken), http.StatusOK); len(l) != 2 {
			t.Errorf("closed: %d requests, want the accepted and the declined one", len(l))
		}

		st := apiRead[referrals.Stats](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals/stats", "", w.alphaToken), http.StatusOK)
		if len(st.Peers) != 2 || st.Peers[0].Peer != testActor("beta") || st.Peers[0].SentCompleted != 1 ||
			st.Peers[1].Peer != kiwiActor || st.Peers[1].Sent != 1 || st.Peers[1].SentAccepted != 0 || len(st.Months) != 2 {
			t.Errorf("stats %+v", st)
		}
		st = apiRead[referrals.Stats](t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals/stats?from=2001-01-01&to=2001-02-01", "", w.alphaToken), http.StatusOK)
		if len(st.Peers) != 0 {
			t.Errorf("stats of 2001 %+v", st)
		}
		apiWantError(t, w.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/referrals/stats?from=x", "", w.alphaToken), http.StatusBadRequest, "from")
	})
}
