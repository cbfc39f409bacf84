package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

func referralURL(id int64, move string) string {
	u := fmt.Sprintf("/manage/referrals/%d", id)
	if move != "" {
		u += "/" + move
	}
	return u
}

func TestReferralInbox(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()
		open, _ := w.request(t, nil, nil)
		closed, _ := w.request(t, nil, func(in *referrals.Intake) { in.Organization = "Closed Trust" })
		if _, err := w.refs.Decline(ctx, w.coop.ID, closed.ID, "no time"); err != nil {
			t.Fatal(err)
		}
		_, atBeta := w.referToBeta(t, open)

		rec := w.pageGet(t, "/manage/referrals", w.alphaCookie)
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "<h1>Work requests</h1>", `href="/manage/referrals/`+fmt.Sprint(open.ID)+`"`, "Friends of the Park",
			"From a client", "Referred to other coops", "Data and CRM", `href="/manage/referrals/stats"`)
		pageWantNoBody(t, rec, "Closed Trust")
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Error("the inbox may be cached")
		}

		rec = w.pageGet(t, "/manage/referrals?status=closed", w.alphaCookie)
		pageWantBody(t, rec, "Closed Trust", "Declined")
		pageWantNoBody(t, rec, "Friends of the Park")

		rec = w.pageGet(t, "/manage/referrals?status=all&source=peers", w.alphaCookie)
		pageWantBody(t, rec, "No requests here.")

		rec = w.pageGet(t, "/manage/referrals?source=peers", w.betaCookie)
		pageWantBody(t, rec, "Referred by Alpha Tech Coop", `href="/manage/referrals/`+fmt.Sprint(atBeta.ID)+`"`)
		rec = w.pageGet(t, "/manage/referrals?status=new&source=clients", w.betaCookie)
		pageWantNoBody(t, rec, "Referred by Alpha Tech Coop")

		pageWantRedirect(t, w.pageGet(t, "/manage/referrals", ""), "/login?next=%2Fmanage%2Freferrals")
	})
}

func TestReferralTriage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()
		r, _ := w.request(t, nil, nil)
		page := referralURL(r.ID, "")

		t.Run("the page shows the request, its contact and the moves open to it", func(t *testing.T) {
			rec := w.pageGet(t, page, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusOK)
			pageWantBody(t, rec, "<h1>Friends of the Park</h1>", "We need a CiviCRM database for our donors.",
				`<a href="mailto:pat@park.example">pat@park.example</a>`, "Pat Doe", "555 0100",
				"Take it on", "Decline it", "Refer it to other coops", `value="`+testActor("beta")+`"`, `value="`+kiwiActor+`"`,
				"offers Data and CRM", "speaks Spanish", "limited capacity", "Request received")
			pageWantNoBody(t, rec, "Accept the referral", "Close it without a taker", "What became of the work")
		})

		t.Run("a request of another coop is not found", func(t *testing.T) {
			pageWantStatus(t, w.pageGet(t, page, w.betaCookie), http.StatusNotFound)
			pageWantStatus(t, w.postForm(t, referralURL(r.ID, "take"), url.Values{}, w.betaCookie), http.StatusNotFound)
			pageWantStatus(t, w.pageGet(t, referralURL(999999, ""), w.alphaCookie), http.StatusNotFound)
		})

		t.Run("declining needs a reason", func(t *testing.T) {
			rec := w.postForm(t, referralURL(r.ID, "decline"), url.Values{"decline_reason": {"  "}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "Why, in a few words for the client is required.", `id="f-decline_reason"`)
		})

		t.Run("refer to a coop this node does not know, or without the client's consent", func(t *testing.T) {
			rec := w.postForm(t, referralURL(r.ID, "refer"), url.Values{"peers": {"https://nowhere.example/coops/x"}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "This node knows no coop")
			rec = w.postForm(t, referralURL(r.ID, "refer"), url.Values{}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "Choose at least one coop.")

			private, _ := w.request(t, nil, func(in *referrals.Intake) { in.ConsentToShare = false })
			rec = w.pageGet(t, referralURL(private.ID, ""), w.alphaCookie)
			pageWantBody(t, rec, "It cannot be referred to other coops. The client did not agree")
			pageWantNoBody(t, rec, "Refer it to other coops")
			rec = w.postForm(t, referralURL(private.ID, "refer"), url.Values{"peers": {kiwiActor}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusConflict)
			pageWantBody(t, rec, "The client did not agree")
			if refs, _ := w.refs.Referrals(ctx, w.coop.ID, private.ID); len(refs) != 0 {
				t.Errorf("a request without consent was referred: %+v", refs)
			}
		})

		t.Run("refer, withdraw an offer, then close", func(t *testing.T) {
			rec := w.postForm(t, referralURL(r.ID, "refer"), url.Values{"peers": {testActor("beta"), kiwiActor}}, w.alphaCookie)
			pageWantRedirect(t, rec, page+"?done=referred")
			refs, err := w.refs.Referrals(ctx, w.coop.ID, r.ID)
			if err != nil || len(refs) != 2 || refs[0].State != referrals.OfferOffered || refs[1].State != referrals.OfferOffered ||
				refs[0].Peer.Name != "Beta Design Coop" || refs[1].Peer.Name != "Kiwi Cooperativa" {
				t.Fatalf("referrals %+v, %v", refs, err)
			}
			rec = w.pageGet(t, page+"?done=referred", w.alphaCookie)
			pageWantBody(t, rec, "The request is on its way", "Sent to Beta Design Coop", "Waiting for an answer",
				`name="referral_id" value="`+fmt.Sprint(refs[0].ID)+`"`)
			// Suggested no more: they were offered it.
			pageWantNoBody(t, rec, `name="peers" value="`+kiwiActor+`"`, "Take it on", "Close it without a taker")

			// Federation gave up delivering one: the page says so, and why,
			// and it can still be withdrawn.
			if _, err := w.refs.MarkUndelivered(ctx, refs[0].ID, "beta.example did not take it: <refused>"); err != nil {
				t.Fatal(err)
			}
			rec = w.pageGet(t, page, w.alphaCookie)
			pageWantBody(t, rec, "Not delivered", "beta.example did not take it: &lt;refused&gt;",
				"Referral to Beta Design Coop not delivered", `name="referral_id" value="`+fmt.Sprint(refs[0].ID)+`"`)
			pageWantBody(t, w.pageGet(t, "/manage/referrals", w.alphaCookie), "A referral was not delivered")

			// Refused while offers are open: the page says why, with a 409.
			rec = w.postForm(t, referralURL(r.ID, "take"), url.Values{}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusConflict)
			pageWantBody(t, rec, "Cannot take the request: it is referred (2 offers still open")

			for _, ref := range refs {
				rec = w.postForm(t, referralURL(r.ID, "withdraw"), url.Values{"referral_id": {fmt.Sprint(ref.ID)}}, w.alphaCookie)
				pageWantRedirect(t, rec, page+"?done=withdrawn")
			}
			// Withdrawn, the undelivered referral needs no more attention.
			list := w.pageGet(t, "/manage/referrals?status=all", w.alphaCookie)
			pageWantBody(t, list, fmt.Sprintf(`href="/manage/referrals/%d"`, r.ID))
			pageWantNoBody(t, list, "was not delivered")
			rec = w.postForm(t, referralURL(r.ID, "withdraw"), url.Values{"referral_id": {fmt.Sprint(refs[0].ID)}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusConflict)
			pageWantBody(t, rec, "Cannot withdraw the offer: it is withdrawn.")
			rec = w.postForm(t, referralURL(r.ID, "withdraw"), url.Values{"referral_id": {"123456"}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusNotFound)

			rec = w.postForm(t, referralURL(r.ID, "close"), url.Values{"close_reason": {"Nobody is free."}}, w.alphaCookie)
			pageWantRedirect(t, rec, page+"?done=closed")
			got, _ := w.refs.RequestByID(ctx, w.coop.ID, r.ID)
			if got.State != referrals.StateUnplaced {
				t.Errorf("state %s after closing", got.State)
			}
		})

		t.Run("take, then mark the outcome", func(t *testing.T) {
			r, _ := w.request(t, nil, nil)
			pageWantRedirect(t, w.postForm(t, referralURL(r.ID, "take"), url.Values{}, w.alphaCookie), referralURL(r.ID, "")+"?done=taken")
			rec := w.pageGet(t, referralURL(r.ID, "")+"?done=taken", w.alphaCookie)
			pageWantBody(t, rec, "You took the request on.", "Taken on", "What became of the work", `<option value="completed">`)
			pageWantNoBody(t, rec, "Take it on", "Decline it", "Refer it to other coops")

			rec = w.postForm(t, referralURL(r.ID, "outcome"), url.Values{"outcome": {"won"}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "Outcome must be one of the choices in the list.")
			pageWantRedirect(t, w.postForm(t, referralURL(r.ID, "outcome"), url.Values{"outcome": {"completed"}}, w.alphaCookie),
				referralURL(r.ID, "")+"?done=outcome")
			rec = w.pageGet(t, referralURL(r.ID, ""), w.alphaCookie)
			pageWantBody(t, rec, "Taken on: Completed", "Work completed")

			rec = w.postForm(t, referralURL(r.ID, "decline"), url.Values{"decline_reason": {"too late"}}, w.alphaCookie)
			pageWantStatus(t, rec, http.StatusConflict)
			pageWantBody(t, rec, "Cannot decline the request: it is taken.")
		})

		t.Run("a referral from a peer: reject needs a reason, accept", func(t *testing.T) {
			r, _ := w.request(t, nil, nil)
			ref, atBeta := w.referToBeta(t, r)
			page := referralURL(atBeta.ID, "")
			rec := w.pageGet(t, page, w.betaCookie)
			pageWantStatus(t, rec, http.StatusOK)
			pageWantBody(t, rec, "Referred by Alpha Tech Coop", "Accept the referral", "Decline the referral",
				"pat@park.example", "Received from them", "Referred</dt><dd>1 of at most 3 times")
			pageWantNoBody(t, rec, "Take it on", `value="`+testActor("alpha")+`"`, `value="`+testActor("beta")+`"`)

			rec = w.postForm(t, referralURL(atBeta.ID, "reject"), url.Values{"reject_reason": {""}}, w.betaCookie)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "Why, in a few words for the coop that referred it is required.")

			pageWantRedirect(t, w.postForm(t, referralURL(atBeta.ID, "accept"), url.Values{}, w.betaCookie), page+"?done=accepted")
			got, _ := w.refs.RequestByID(ctx, w.beta.ID, atBeta.ID)
			if got.State != referrals.StateTaken {
				t.Errorf("state at beta %s, want taken", got.State)
			}
			// Federation carries the Accept to alpha.
			if _, err := w.refs.RecordAccepted(ctx, answerTo(ref, "")); err != nil {
				t.Fatal(err)
			}
			rec = w.pageGet(t, referralURL(r.ID, ""), w.alphaCookie)
			pageWantBody(t, rec, "Placed with another coop", "Beta Design Coop accepted and will contact you", "What became of the work")
		})
	})
}
