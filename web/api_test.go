package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

// apiCall sends a JSON API request: body, when not empty, as application/json,
// and token, when not empty, as a bearer token.
func (n *testNode) apiCall(t *testing.T, method, target, body, token string) *httptest.ResponseRecorder {
	t.Helper()
	h := http.Header{}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return n.do(t, method, target, strings.NewReader(body), h)
}

// apiRead reads a JSON answer, failing the test on the wrong status or a body
// that is not JSON.
func apiRead[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body: %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

// apiWantError checks a JSON error answer: its status, a message, and exactly
// the fields named (none when fields is nil).
func apiWantError(t *testing.T, rec *httptest.ResponseRecorder, status int, fields ...string) apiError {
	t.Helper()
	e := apiRead[apiError](t, rec, status)
	if e.Message == "" {
		t.Errorf("error without a message: %s", rec.Body)
	}
	got := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(fields)
	if len(got) != 0 || len(fields) != 0 {
		if !reflect.DeepEqual(got, fields) {
			t.Errorf("error fields %v, want %v; body: %s", got, fields, rec.Body)
		}
	}
	return e
}

// apiOtherCoop adds a second coop, "beta", with one member, and returns the
// coop and that member's token.
func (n *testNode) apiOtherCoop(t *testing.T) (directory.Coop, string) {
	t.Helper()
	ctx := context.Background()
	coop, err := n.store.CreateCoop(ctx, directory.Coop{Slug: "beta", Name: "Beta Design Coop"})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := n.store.Invite(ctx, coop.ID, n.admin.ID, "bo@beta.example", directory.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.store.AcceptInvitation(ctx, secret, "Bo", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return coop, n.token(t, m)
}

// apiStoredCoop reads a coop straight from the store.
func (n *testNode) apiStoredCoop(t *testing.T, slug string) directory.Coop {
	t.Helper()
	c, err := n.store.CoopBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAPIListAndGetCoops(t *testing.T) {
	n := newTestNode(t)
	beta, _ := n.apiOtherCoop(t)
	logo := []byte("png bytes: the store does not check, the upload handler does")
	if err := n.store.SetLogo(context.Background(), beta.ID, "image/png", logo); err != nil {
		t.Fatal(err)
	}

	list := apiRead[[]apiCoopJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/coops", "", ""), http.StatusOK)
	if len(list) != 2 || list[0].Slug != "alpha" || list[1].Slug != "beta" {
		t.Fatalf("coops = %+v, want alpha and beta", list)
	}

	alpha := apiRead[map[string]any](t, n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha", "", ""), http.StatusOK)
	want := map[string]any{
		"slug": "alpha", "name": "Alpha Tech Coop", "capacity": "open", "approve_followers": false, "discoverable": true,
		"url": "http://localhost:8080/coops/alpha", "handle": "alpha@localhost:8080",
	}
	for k, v := range want {
		if alpha[k] != v {
			t.Errorf("alpha[%q] = %v, want %v", k, alpha[k], v)
		}
	}
	for _, k := range []string{"logo_url", "id", "HasLogo"} {
		if _, ok := alpha[k]; ok {
			t.Errorf("alpha has %q: %v", k, alpha[k])
		}
	}

	b := apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/coops/beta", "", ""), http.StatusOK)
	if b.LogoURL != "http://localhost:8080/coops/beta/logo" {
		t.Errorf("beta logo_url = %q", b.LogoURL)
	}

	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/coops/nope", "", ""), http.StatusNotFound)
}

func TestAPIPutCoopReplacesProfile(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	patch := `{"summary":"We build websites.","city":"Lyon","skills":["go","sql"],"approve_followers":true,"discoverable":true}`
	apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPatch, "/api/v1/coops/alpha", patch, tok), http.StatusOK)

	put := `{"slug":"alpha","name":"Alpha Two","country":"de","languages":["de","EN"],"capacity":"limited","year_founded":2015}`
	got := apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPut, "/api/v1/coops/alpha", put, tok), http.StatusOK)
	stored := n.apiStoredCoop(t, "alpha")
	for _, c := range []directory.Coop{got.Coop, stored} {
		if c.Name != "Alpha Two" || c.Country != "DE" || c.Capacity != directory.CapacityLimited || c.YearFounded != 2015 {
			t.Errorf("after PUT: %+v", c)
		}
		if !reflect.DeepEqual(c.Languages, []string{"de", "en"}) {
			t.Errorf("languages = %q, want canonical tags", c.Languages)
		}
		if c.Summary != "" || c.City != "" || len(c.Skills) != 0 || c.ApproveFollowers || c.Discoverable {
			t.Errorf("PUT kept fields it was not sent: %+v", c)
		}
	}

	put = `{"name":"Alpha Two","approve_followers":true,"discoverable":true}`
	got = apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPut, "/api/v1/coops/alpha", put, tok), http.StatusOK)
	stored = n.apiStoredCoop(t, "alpha")
	for _, c := range []directory.Coop{got.Coop, stored} {
		if !c.ApproveFollowers || !c.Discoverable {
			t.Errorf("PUT did not set approve_followers and discoverable: %+v", c)
		}
	}
}

func TestAPIPutCoopAcceptsWhatGetReturns(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	rec := n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha", "", "")
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["approve_followers"] != false || doc["discoverable"] != true {
		t.Fatalf("GET approve_followers %v, discoverable %v; want false and true", doc["approve_followers"], doc["discoverable"])
	}
	doc["city"] = "Porto"
	doc["approve_followers"] = true
	body, _ := json.Marshal(doc)
	got := apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPut, "/api/v1/coops/alpha", string(body), tok), http.StatusOK)
	if got.City != "Porto" || got.Name != "Alpha Tech Coop" || !got.ApproveFollowers || !got.Discoverable {
		t.Errorf("round trip: %+v", got.Coop)
	}
	if c := n.apiStoredCoop(t, "alpha"); !c.ApproveFollowers || !c.Discoverable {
		t.Errorf("round trip stored: %+v", c)
	}
}

func TestAPIPatchCoopKeepsOtherFields(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPut, "/api/v1/coops/alpha",
		`{"name":"Alpha","summary":"Web work","country":"FR","skills":["go"],"remote_friendly":true,"workers":7,"approve_followers":true,"discoverable":true}`, tok), http.StatusOK)

	got := apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPatch, "/api/v1/coops/alpha", `{"city":"Lille","country":null}`, tok), http.StatusOK)
	stored := n.apiStoredCoop(t, "alpha")
	for _, c := range []directory.Coop{got.Coop, stored} {
		if c.City != "Lille" {
			t.Errorf("city = %q, want the patched value", c.City)
		}
		if c.Country != "" {
			t.Errorf("country = %q, want cleared by null", c.Country)
		}
		if c.Name != "Alpha" || c.Summary != "Web work" || !reflect.DeepEqual(c.Skills, []string{"go"}) || !c.RemoteFriendly || c.Workers != 7 ||
			!c.ApproveFollowers || !c.Discoverable {
			t.Errorf("PATCH lost fields it was not sent: %+v", c)
		}
	}

	// PATCH changes each boolean only when it is sent.
	got = apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPatch, "/api/v1/coops/alpha", `{"discoverable":false}`, tok), http.StatusOK)
	stored = n.apiStoredCoop(t, "alpha")
	for _, c := range []directory.Coop{got.Coop, stored} {
		if !c.ApproveFollowers || c.Discoverable {
			t.Errorf("after PATCH discoverable=false: approve %v, discoverable %v", c.ApproveFollowers, c.Discoverable)
		}
	}
	got = apiRead[apiCoopJSON](t, n.apiCall(t, http.MethodPatch, "/api/v1/coops/alpha", `{"approve_followers":false,"discoverable":true}`, tok), http.StatusOK)
	stored = n.apiStoredCoop(t, "alpha")
	for _, c := range []directory.Coop{got.Coop, stored} {
		if c.ApproveFollowers || !c.Discoverable || !c.RemoteFriendly {
			t.Errorf("after PATCH approve_followers=false, discoverable=true: %+v", c)
		}
	}
}

// TestAPICoopBadBodies sends every kind of bad body and checks the answer and
// that the profile did not change.
func TestAPICoopBadBodies(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		fields      []string
		message     string
	}{
		{"no content type", http.MethodPatch, "", `{"name":"X"}`, http.StatusUnsupportedMediaType, nil, "application/json"},
		{"form content type", http.MethodPut, "application/x-www-form-urlencoded", `name=X`, http.StatusUnsupportedMediaType, nil, "application/json"},
		{"too large", http.MethodPatch, "application/json", `{"summary":"` + strings.Repeat("a", 70_000) + `"}`, http.StatusRequestEntityTooLarge, nil, "64 KiB"},
		{"empty", http.MethodPatch, "application/json", ``, http.StatusBadRequest, nil, "empty"},
		{"truncated", http.MethodPatch, "application/json", `{"name":"X"`, http.StatusBadRequest, nil, "malformed JSON"},
		{"syntax", http.MethodPatch, "application/json", `{"name":"X",}`, http.StatusBadRequest, nil, "malformed JSON at byte"},
		{"not an object", http.MethodPatch, "application/json", `["name"]`, http.StatusBadRequest, nil, "JSON object"},
		{"null", http.MethodPut, "application/json", `null`, http.StatusBadRequest, nil, "JSON object"},
		{"trailing data", http.MethodPatch, "application/json", `{"name":"X"} {"name":"Y"}`, http.StatusBadRequest, nil, "nothing after it"},
		{"unknown fields", http.MethodPatch, "application/json", `{"name":"X","nmae":"Y","colour":"red"}`, http.StatusBadRequest, []string{"colour", "nmae"}, ""},
		{"string for number", http.MethodPatch, "application/json", `{"year_founded":"1999"}`, http.StatusBadRequest, []string{"year_founded"}, ""},
		{"huge number", http.MethodPatch, "application/json", `{"workers":1e30}`, http.StatusBadRequest, []string{"workers"}, ""},
		{"string for list", http.MethodPatch, "application/json", `{"languages":"en"}`, http.StatusBadRequest, []string{"languages"}, ""},
		{"number in list", http.MethodPatch, "application/json", `{"skills":["go",3]}`, http.StatusBadRequest, []string{"skills"}, ""},
		{"other slug", http.MethodPatch, "application/json", `{"slug":"alpha2"}`, http.StatusBadRequest, []string{"slug"}, ""},
		{"invalid values", http.MethodPatch, "application/json", `{"name":" ","country":"XX","website":"ftp://x","capacity":"busy"}`, http.StatusBadRequest, []string{"name", "country", "website", "capacity"}, ""},
		{"NUL in text", http.MethodPatch, "application/json", `{"name":"A\u0000B","skills":["go","s\u0000"],"city":"\\u0000 is fine"}`, http.StatusBadRequest, []string{"name", "skills"}, ""},
		{"put without name", http.MethodPut, "application/json", `{"city":"Lyon"}`, http.StatusBadRequest, []string{"name"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := n.apiStoredCoop(t, "alpha")
			h := http.Header{"Authorization": {"Bearer " + tok}}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			rec := n.do(t, tt.method, "/api/v1/coops/alpha", strings.NewReader(tt.body), h)
			e := apiWantError(t, rec, tt.status, tt.fields...)
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q does not say %q", e.Message, tt.message)
			}
			if after := n.apiStoredCoop(t, "alpha"); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed the coop:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

func TestAPITypeErrorSaysWhatIsExpected(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	tests := []struct{ body, field, want string }{
		{`{"year_founded":"1999"}`, "year_founded", "must be a whole number"},
		{`{"remote_friendly":"yes"}`, "remote_friendly", "must be true or false"},
		{`{"discoverable":"yes"}`, "discoverable", "must be true or false"},
		{`{"approve_followers":1}`, "approve_followers", "must be true or false"},
		{`{"skills":"go"}`, "skills", "must be a list of strings"},
		{`{"name":5}`, "name", "must be a string"},
	}
	for _, tt := range tests {
		e := apiWantError(t, n.apiCall(t, http.MethodPatch, "/api/v1/coops/alpha", tt.body, tok), http.StatusBadRequest, tt.field)
		if e.Fields[tt.field] != tt.want {
			t.Errorf("%s: %q, want %q", tt.body, e.Fields[tt.field], tt.want)
		}
	}
}

// TestAPIWritesNeedAMemberOfTheCoop sends every request that needs a token
// without one, with a bad one, and with another coop's member's, and checks
// nothing changed.
func TestAPIWritesNeedAMemberOfTheCoop(t *testing.T) {
	n := newTestNode(t)
	_, betaToken := n.apiOtherCoop(t)
	svc := n.apiService(t, `{"title":"Sites","category":"web-development","pricing":"hourly"}`)
	svcURL := "/api/v1/coops/alpha/services/" + svc
	requests := []struct{ method, target, body string }{
		{http.MethodPut, "/api/v1/coops/alpha", `{"name":"Taken"}`},
		{http.MethodPatch, "/api/v1/coops/alpha", `{"name":"Taken"}`},
		{http.MethodPost, "/api/v1/coops/alpha/services", `{"title":"Spam","category":"other","pricing":"fixed"}`},
		{http.MethodPut, svcURL, `{"title":"Taken","category":"other","pricing":"fixed"}`},
		{http.MethodDelete, svcURL, ``},
		{http.MethodGet, "/api/v1/coops/alpha/members", ``},
	}
	before := n.apiStoredCoop(t, "alpha")
	for _, r := range requests {
		t.Run(r.method+" "+r.target, func(t *testing.T) {
			rec := n.apiCall(t, r.method, r.target, r.body, "")
			apiWantError(t, rec, http.StatusUnauthorized)
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			apiWantError(t, n.apiCall(t, r.method, r.target, r.body, "coopnet_not-a-real-token"), http.StatusUnauthorized)
			h := http.Header{"Authorization": {"Basic YWRhOnB3"}, "Content-Type": {"application/json"}}
			apiWantError(t, n.do(t, r.method, r.target, strings.NewReader(r.body), h), http.StatusUnauthorized)
			apiWantError(t, n.apiCall(t, r.method, r.target, r.body, betaToken), http.StatusForbidden)
		})
	}
	if after := n.apiStoredCoop(t, "alpha"); !reflect.DeepEqual(before, after) {
		t.Errorf("refused requests changed the coop: %+v", after)
	}
	list := apiRead[[]directory.Service](t, n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/services", "", ""), http.StatusOK)
	if len(list) != 1 || list[0].Title != "Sites" {
		t.Errorf("refused requests changed the services: %+v", list)
	}
}

func TestAPIReadsRefuseABadToken(t *testing.T) {
	n := newTestNode(t)
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/coops", "", "coopnet_nope"), http.StatusUnauthorized)
}

func TestAPIMembers(t *testing.T) {
	n := newTestNode(t)
	n.apiOtherCoop(t)
	members := apiRead[[]directory.Member](t, n.apiCall(t, http.MethodGet, "/api/v1/coops/alpha/members", "", n.token(t, n.admin)), http.StatusOK)
	if len(members) != 1 || members[0].Email != "ada@alpha.example" || members[0].Role != directory.RoleAdmin {
		t.Errorf("alpha members = %+v, want Ada only", members)
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/coops/nope/members", "", n.token(t, n.admin)), http.StatusNotFound)
}

func TestAPIMe(t *testing.T) {
	n := newTestNode(t)
	me := apiRead[apiMeJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/me", "", n.token(t, n.admin)), http.StatusOK)
	if me.Member.ID != n.admin.ID || me.Member.Email != "ada@alpha.example" || me.CoopSlug != "alpha" {
		t.Errorf("me = %+v", me)
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/me", "", ""), http.StatusUnauthorized)
}

func TestAPIUnknownRouteIsJSON(t *testing.T) {
	n := newTestNode(t)
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/nothing-here", "", ""), http.StatusNotFound)
}

// FuzzAPIBodies checks that no body sent to the write routes makes the node
// fail on its side: every answer is below 500, and JSON.
func FuzzAPIBodies(f *testing.F) {
	for _, seed := range []string{`{"name":"X"}`, `{"year_founded":1e400}`, `{"skills":[[]]}`, `{"price_min":-1}`,
		`{"languages":["zz-ZZZZZZ-x-"]}`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}", `{"capacity":null}`, `{"title":"T","category":"other","pricing":"fixed"}`} {
		f.Add(seed)
	}
	n, tok := apiFuzzNode(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range []struct{ method, target string }{
			{http.MethodPatch, "/api/v1/coops/alpha"},
			{http.MethodPut, "/api/v1/coops/alpha"},
			{http.MethodPost, "/api/v1/coops/alpha/services"},
			{http.MethodPost, "/api/v1/tokens"},
		} {
			rec := n.apiCall(t, r.method, r.target, body, tok)
			if rec.Code >= 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Fatalf("%s %s %q: %d %s", r.method, r.target, body, rec.Code, rec.Body)
			}
		}
	})
}

// apiFuzzNode is newTestNode for a fuzz target, shared by all its inputs: the
// property checked holds whatever earlier inputs changed. It cannot be made per
// input, since an input's test name holds "#", which the SQLite file URI reads
// as the start of a fragment.
func apiFuzzNode(f *testing.F) (*testNode, string) {
	n := newNodeWith(f, 10)
	store, e := n.store, n.e
	base, _ := url.Parse("http://localhost:8080")
	_, m, err := store.Setup(context.Background(), directory.SetupInput{
		CoopName: "Alpha Tech Coop", Slug: "alpha", AdminName: "Ada", AdminEmail: "ada@alpha.example", Password: testPassword,
	}, base.String())
	if err != nil {
		f.Fatal(err)
	}
	_, secret, err := store.CreateToken(context.Background(), m.ID, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	return &testNode{e: e, store: store}, secret
}
