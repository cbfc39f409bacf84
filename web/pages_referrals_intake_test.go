package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

func TestRequestFormOnCoopPage(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/coops/alpha", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, `id="request-work"`, `href="#request-work"`, `action="/coops/alpha/requests"`,
		"If this coop cannot take the work, it may pass my request to other cooperatives",
		`<label for="f-website">Leave this field empty`, `name="categories" value="data-crm"`)

	rec = n.pageGet(t, "/coops/alpha/request", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Request work from Alpha Tech Coop</h1>", `action="/coops/alpha/requests"`)
	pageWantStatus(t, n.pageGet(t, "/coops/nobody/request", ""), http.StatusNotFound)
}

func TestRequestIntake(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		w := newRefWorld(t, newTestNodeOn(t, d))
		ctx := context.Background()

		t.Run("a good request is kept and its link shown once", func(t *testing.T) {
			rec := w.postForm(t, "/coops/alpha/requests", goodRequest(), "")
			pageWantStatus(t, rec, http.StatusOK)
			pageWantBody(t, rec, "<h1>Your request is sent</h1>", "it will not be shown again", `value="http://localhost:8080/requests/`)
			wantPrivate(t, rec)
			link := statusLink(t, rec)
			r, err := w.refs.RequestByStatusToken(ctx, strings.TrimPrefix(link, "/requests/"))
			if err != nil {
				t.Fatal(err)
			}
			if r.CoopID != w.coop.ID || r.Organization != "Friends of the Park" || r.Currency != "EUR" || r.Country != "ES" ||
				!r.ConsentToShare || *r.BudgetMin != 2000 || strings.Join(r.Skills, ",") != "CiviCRM,reporting" ||
				strings.Join(r.Categories, ",") != "data-crm" || r.OriginActor != testActor("alpha") {
				t.Errorf("stored %+v", r)
			}
			ct, err := w.refs.ContactFor(ctx, w.coop.ID, r.ID)
			if err != nil || ct.Email != "pat@park.example" || ct.Name != "Pat Doe" || ct.Phone != "+1 555 0100" {
				t.Errorf("contact %v %q %q, %v", ct, ct.Email, ct.Name, err)
			}
		})

		t.Run("bad input comes back with messages and the values typed", func(t *testing.T) {
			before := w.requestCount(t, w.coop.ID)
			form := goodRequest()
			form.Set("description", " ")
			form.Set("email", "not an address")
			form.Set("budget_min", "lots")
			form.Set("categories", "plumbing")
			form.Set("country", "Narnia")
			rec := w.postForm(t, "/coops/alpha/requests", form, "")
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, "Some fields need a change", "Description of the work is required.",
				"E-mail address must be an e-mail address", "Budget from must be a whole amount", `Unknown category &#34;plumbing&#34;.`,
				"is not an ISO 3166-1 country code", `value="Friends of the Park"`, `value="Pat Doe"`, `value="not an address"`,
				`name="consent_to_share" value="on" checked`, `aria-invalid="true"`)
			if got := w.requestCount(t, w.coop.ID); got != before {
				t.Errorf("a refused request was stored: %d requests, want %d", got, before)
			}
		})

		t.Run("a filled honeypot is thanked and nothing is kept", func(t *testing.T) {
			before := w.requestCount(t, w.coop.ID)
			form := goodRequest()
			form.Set("website", "http://spam.example")
			rec := w.postForm(t, "/coops/alpha/requests", form, "")
			pageWantStatus(t, rec, http.StatusOK)
			pageWantBody(t, rec, "<h1>Your request is sent</h1>")
			if got := w.requestCount(t, w.coop.ID); got != before {
				t.Errorf("the honeypot's request was stored")
			}
			pageWantStatus(t, w.pageGet(t, statusLink(t, rec), ""), http.StatusNotFound)
		})

		t.Run("without the form's token or from another site it is refused", func(t *testing.T) {
			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}}
			rec := w.do(t, http.MethodPost, "/coops/alpha/requests", strings.NewReader(goodRequest().Encode()), h)
			pageWantStatus(t, rec, http.StatusForbidden)
		})

		t.Run("unknown coop and oversized body", func(t *testing.T) {
			pageWantStatus(t, w.postForm(t, "/coops/nobody/requests", goodRequest(), ""), http.StatusNotFound)
			form := goodRequest()
			form.Set("description", strings.Repeat("x", 70<<10))
			pageWantStatus(t, w.postForm(t, "/coops/alpha/requests", form, ""), http.StatusRequestEntityTooLarge)
		})
	})
}

// TestRequestRateLimit checks that the form and the API share one budget
// per address.
func TestRequestRateLimit(t *testing.T) {
	n := newTestNodeWith(t, testdb.SQLite(t), func(c *Config) { c.WorkRequestsPerHour = 4 }) // a burst of 2
	for i := range 2 {
		if rec := n.postForm(t, "/coops/alpha/requests", goodRequest(), ""); rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
	}
	rec := n.postForm(t, "/coops/alpha/requests", goodRequest(), "")
	pageWantStatus(t, rec, http.StatusTooManyRequests)
	pageWantBody(t, rec, "Too many work requests from your address")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	rec = n.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/requests", `{"email":"a@b.example","description":"x"}`, "")
	apiWantError(t, rec, http.StatusTooManyRequests)

	// Another address has its own budget.
	req := httptest.NewRequest(http.MethodPost, "/coops/alpha/requests", strings.NewReader(goodRequest().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.RemoteAddr = "198.51.100.7:4000"
	rec = httptest.NewRecorder()
	n.e.ServeHTTP(rec, req)
	pageWantStatus(t, rec, http.StatusOK)
	list, _ := n.refs.ListRequests(context.Background(), n.coop.ID, referrals.Filter{})
	if len(list) != 3 {
		t.Errorf("%d requests stored, want 3", len(list))
	}
}

func TestIntakeFromValues(t *testing.T) {
	tests := []struct {
		name string
		in   url.Values
		want func(in referrals.Intake) bool
		errs string
	}{
		{"lists repeated or with commas", url.Values{"categories": {"design,hosting", "data-crm"}, "skills": {"a, b", "c"}},
			func(in referrals.Intake) bool {
				return strings.Join(in.Categories, " ") == "design hosting data-crm" && strings.Join(in.Skills, " ") == "a b c"
			}, ""},
		{"consent as a checkbox or a boolean", url.Values{"consent_to_share": {"true"}},
			func(in referrals.Intake) bool { return in.ConsentToShare }, ""},
		{"no consent", url.Values{"consent_to_share": {"false"}},
			func(in referrals.Intake) bool { return !in.ConsentToShare }, ""},
		{"budget not a number", url.Values{"budget_max": {"1.5k"}},
			func(in referrals.Intake) bool { return in.BudgetMax == nil }, "budget_max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, e := intakeFromValues(tt.in)
			if !tt.want(in) {
				t.Errorf("read %+v", in.Details)
			}
			var got []string
			for k := range e {
				got = append(got, k)
			}
			if strings.Join(got, ",") != tt.errs {
				t.Errorf("errors %v, want %q", e, tt.errs)
			}
		})
	}
}
