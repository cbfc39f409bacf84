package web

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

func TestAPITokens(t *testing.T) {
	n := newTestNode(t)
	first := n.token(t, n.admin)

	created := apiRead[apiNewTokenJSON](t, n.apiCall(t, http.MethodPost, "/api/v1/tokens", `{"name":" deploy script "}`, first), http.StatusCreated)
	if created.Name != "deploy script" || !strings.HasPrefix(created.Secret, directory.TokenPrefix) {
		t.Fatalf("created = %+v", created)
	}
	me := apiRead[apiMeJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/me", "", created.Secret), http.StatusOK)
	if me.Member.ID != n.admin.ID {
		t.Errorf("new token belongs to %+v", me.Member)
	}

	list := apiRead[[]map[string]any](t, n.apiCall(t, http.MethodGet, "/api/v1/tokens", "", first), http.StatusOK)
	if len(list) != 2 {
		t.Fatalf("tokens = %+v, want 2", list)
	}
	for _, tok := range list {
		if _, ok := tok["secret"]; ok {
			t.Errorf("the list shows a secret: %+v", tok)
		}
	}

	url := "/api/v1/tokens/" + strconv.FormatInt(created.ID, 10)
	if rec := n.apiCall(t, http.MethodDelete, url, "", first); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/me", "", created.Secret), http.StatusUnauthorized)
	apiWantError(t, n.apiCall(t, http.MethodDelete, url, "", first), http.StatusNotFound)
	apiWantError(t, n.apiCall(t, http.MethodDelete, "/api/v1/tokens/abc", "", first), http.StatusNotFound)
}

func TestAPITokensAreTheMembersOwn(t *testing.T) {
	n := newTestNode(t)
	_, betaToken := n.apiOtherCoop(t)
	alpha := n.token(t, n.admin)
	mine := apiRead[[]directory.APIToken](t, n.apiCall(t, http.MethodGet, "/api/v1/tokens", "", alpha), http.StatusOK)
	theirs := apiRead[[]directory.APIToken](t, n.apiCall(t, http.MethodGet, "/api/v1/tokens", "", betaToken), http.StatusOK)
	if len(mine) != 1 || len(theirs) != 1 || mine[0].ID == theirs[0].ID {
		t.Fatalf("alpha sees %+v, beta sees %+v", mine, theirs)
	}
	apiWantError(t, n.apiCall(t, http.MethodDelete, "/api/v1/tokens/"+strconv.FormatInt(theirs[0].ID, 10), "", alpha), http.StatusNotFound)
	apiRead[apiMeJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/me", "", betaToken), http.StatusOK)
}

func TestAPITokenBadInput(t *testing.T) {
	n := newTestNode(t)
	tok := n.token(t, n.admin)
	apiWantError(t, n.apiCall(t, http.MethodPost, "/api/v1/tokens", `{"name":"  "}`, tok), http.StatusBadRequest, "name")
	apiWantError(t, n.apiCall(t, http.MethodPost, "/api/v1/tokens", `{"name":"x","scope":"all"}`, tok), http.StatusBadRequest, "scope")
	apiWantError(t, n.apiCall(t, http.MethodPost, "/api/v1/tokens", `{"name":"x"}`, ""), http.StatusUnauthorized)
	h := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"text/plain"}}
	apiWantError(t, n.do(t, http.MethodPost, "/api/v1/tokens", strings.NewReader(`{"name":"x"}`), h), http.StatusUnsupportedMediaType)
	if list := apiRead[[]directory.APIToken](t, n.apiCall(t, http.MethodGet, "/api/v1/tokens", "", tok), http.StatusOK); len(list) != 1 {
		t.Errorf("refused requests created tokens: %+v", list)
	}
	apiWantError(t, n.apiCall(t, http.MethodGet, "/api/v1/tokens", "", ""), http.StatusUnauthorized)
}
