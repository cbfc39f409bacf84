package web

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

// apiService creates a service of alpha through the API and returns its id.
func (n *testNode) apiService(t *testing.T, body string) string {
	t.Helper()
	svc := apiRead[directory.Service](t, n.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/services", body, n.token(t, n.admin)), http.StatusCreated)
	return strconv.FormatInt(svc.ID, 10)
}

func TestAPIServiceCRUD(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)

	rec := n.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/services",
		`{"title":" Websites ","category":"web-development","pricing":"hourly","price_min":50,"price_max":90,"currency":"eur","tags":["wordpress","WordPress"]}`, tok)
	created := apiRead[directory.Service](t, rec, http.StatusCreated)
	url := "/api/v1/coops/alpha/services/" + strconv.FormatInt(created.ID, 10)
	if loc := rec.Header().Get("Location"); loc != "http://localhost:8080"+url {
		t.Errorf("Location = %q", loc)
	}
	if created.Title != "Websites" || created.Currency != "EUR" || !created.Active || len(created.Tags) != 1 || *created.PriceMin != 50 {
		t.Errorf("created = %+v", created)
	}

	got := apiRead[directory.Service](t, n.apiCall(t, http.MethodGet, url, "", ""), http.StatusOK)
	if got.ID != created.ID || got.Title != "Websites" {
		t.Errorf("get = %+v", got)
	}

	put := `{"id":999,"title":"Hosting","category":"hosting","pricing":"fixed","active":false}`
	updated := apiRead[directory.Service](t, n.apiCall(t, http.MethodPut, url, put, tok), http.StatusOK)
	if updated.ID != created.ID || updated.Title != "Hosting" || updated.Active || updated.PriceMin != nil || updated.Currency != "" {
		t.Errorf("after PUT = %+v, want every field replaced and the id kept", updated)
	}

	rec = n.apiCall(t, http.MethodDelete, url, "", tok)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, url, "", tok), http.StatusNotFound)
	apiWantError(t, n.apiCall(t, http.MethodDelete, url, "", tok), http.StatusNotFound)
	apiWantError(t, n.apiCall(t, http.MethodPut, url, put, tok), http.StatusNotFound)
}

func TestAPIInactiveServicesAreForMembers(t *testing.T) {
	n := newTestNode(t)
	_, betaToken := n.apiOtherCoop(t)
	n.apiService(t, `{"title":"Design","category":"design","pricing":"fixed"}`)
	hidden := n.apiService(t, `{"title":"Old","category":"other","pricing":"fixed","active":false}`)
	alpha := n.token(t, n.admin)

	tests := []struct {
		name, query, token string
		want               int
	}{
		{"anonymous", "", "", 1},
		{"anonymous asking for inactive", "?include_inactive=true", "", 1},
		{"other coop asking for inactive", "?include_inactive=true", betaToken, 1},
		{"member", "", alpha, 1},
		{"member asking for inactive", "?include_inactive=true", alpha, 2},
		{"member declining inactive", "?include_inactive=false", alpha, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/services"+tt.query, "", tt.token)
			if got := apiRead[[]directory.Service](t, rec, http.StatusOK); len(got) != tt.want {
				t.Errorf("%d services, want %d: %+v", len(got), tt.want, got)
			}
		})
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/services?include_inactive=maybe", "", alpha), http.StatusBadRequest, "include_inactive")

	url := "/api/v1/coops/alpha/services/" + hidden
	apiWantError(t, n.apiCall(t, http.MethodGet, url, "", ""), http.StatusNotFound)
	apiWantError(t, n.apiCall(t, http.MethodGet, url, "", betaToken), http.StatusNotFound)
	apiRead[directory.Service](t, n.apiCall(t, http.MethodGet, url, "", alpha), http.StatusOK)
}

func TestAPIServiceNotFound(t *testing.T) {
	n := newTestNode(t)
	beta, betaToken := n.apiOtherCoop(t)
	other, err := n.store.CreateService(context.Background(), beta.ID, directory.Service{Title: "Beta's", Category: "design", Pricing: "fixed", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	betaURL := "/api/v1/coops/beta/services/" + strconv.FormatInt(other.ID, 10)
	apiRead[directory.Service](t, n.apiCall(t, http.MethodGet, betaURL, "", ""), http.StatusOK)
	tok := n.token(t, n.admin)

	// Another coop's service, seen through alpha's URL, does not exist.
	crossed := "/api/v1/coops/alpha/services/" + strconv.FormatInt(other.ID, 10)
	targets := []string{crossed, "/api/v1/coops/alpha/services/abc", "/api/v1/coops/alpha/services/-1",
		"/api/v1/coops/alpha/services/0", "/api/v1/coops/alpha/services/99999999999999999999"}
	for _, target := range targets {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			body := ""
			if method == http.MethodPut {
				body = `{"title":"X","category":"other","pricing":"fixed"}`
			}
			apiWantError(t, n.apiCall(t, method, target, body, tok), http.StatusNotFound)
		}
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/coops/nope/services", "", ""), http.StatusNotFound)
	apiWantError(t, n.apiCall(t, http.MethodPost, "/api/v1/coops/nope/services", `{}`, betaToken), http.StatusNotFound)
	if got, _ := n.store.Service(context.Background(), beta.ID, other.ID); got.Title != "Beta's" {
		t.Errorf("beta's service changed: %+v", got)
	}
}

func TestAPIServiceBadInputChangesNothing(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	id := n.apiService(t, `{"title":"Websites","category":"web-development","pricing":"hourly"}`)
	url := "/api/v1/coops/alpha/services/" + id
	tests := []struct {
		name, method, target, body string
		fields                     []string
	}{
		{"create without title", http.MethodPost, "/api/v1/coops/alpha/services", `{"category":"design","pricing":"fixed"}`, []string{"title"}},
		{"create with bad values", http.MethodPost, "/api/v1/coops/alpha/services", `{"title":"X","category":"magic","pricing":"barter","price_min":5}`, []string{"category", "pricing", "currency"}},
		{"create with unknown field", http.MethodPost, "/api/v1/coops/alpha/services", `{"title":"X","category":"design","pricing":"fixed","price":5}`, []string{"price"}},
		{"price of the wrong type", http.MethodPut, url, `{"title":"X","category":"design","pricing":"fixed","price_min":"5"}`, []string{"price_min"}},
		{"fractional price", http.MethodPut, url, `{"title":"X","category":"design","pricing":"fixed","price_min":5.5}`, []string{"price_min"}},
		{"min above max", http.MethodPut, url, `{"title":"X","category":"design","pricing":"fixed","price_min":9,"price_max":5,"currency":"USD"}`, []string{"price_max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apiWantError(t, n.apiCall(t, tt.method, tt.target, tt.body, tok), http.StatusBadRequest, tt.fields...)
		})
	}
	list := apiRead[[]directory.Service](t, n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/services?include_inactive=true", "", tok), http.StatusOK)
	if len(list) != 1 || list[0].Title != "Websites" || list[0].Category != "web-development" {
		t.Errorf("refused requests changed the services: %+v", list)
	}
	apiWantError(t, n.apiCall(t, http.MethodPost, "/api/v1/coops/alpha/services", `{"title":"X"}`+"\n[]", tok), http.StatusBadRequest)
}
