package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

func setupForm(slug string) url.Values {
	return url.Values{
		"coop_name": {"Beta Design Coop"}, "slug": {slug}, "admin_name": {"Bo"},
		"email": {"bo@beta.example"}, "password": {testPassword}, "password_confirm": {testPassword},
	}
}

func TestSetupFlow(t *testing.T) {
	n := newEmptyNode(t)

	pageWantRedirect(t, n.pageGet(t, "/", ""), "/setup")
	rec := n.pageGet(t, "/setup", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Set up this node", `name="slug"`)

	rec = n.postForm(t, "/setup", setupForm("beta"), "")
	pageWantRedirect(t, rec, "/manage/profile")
	cookie := pageSession(t, rec)

	co, err := n.store.CoopBySlug(context.Background(), "beta")
	if err != nil || co.Name != "Beta Design Coop" {
		t.Fatalf("coop after setup: %+v, %v", co, err)
	}
	rec = n.pageGet(t, "/manage/profile", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, `value="Beta Design Coop"`)

	// Once set up, setup is gone for good.
	pageWantStatus(t, n.pageGet(t, "/setup", ""), http.StatusNotFound)
	rec = n.postForm(t, "/setup", setupForm("gamma"), "")
	pageWantStatus(t, rec, http.StatusNotFound)
	pageWantBody(t, rec, "already set up")
	if _, err := n.store.CoopBySlug(context.Background(), "gamma"); err == nil {
		t.Fatal("a second setup created a coop")
	}
	pageWantStatus(t, n.pageGet(t, "/", ""), http.StatusOK)
}

func TestSetupRejectsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(url.Values)
		want   []string
	}{
		{"bad slug", func(v url.Values) { v.Set("slug", "Not A Slug!") }, []string{`id="f-slug-error"`, "Short name must be 2 to 40"}},
		{"no coop name", func(v url.Values) { v.Set("coop_name", " ") }, []string{`id="f-coop_name-error"`, "Coop name is required."}},
		{"passwords differ", func(v url.Values) { v.Set("password_confirm", "something else entirely") },
			[]string{`id="f-password_confirm-error"`, "Password again must be the same as the password."}},
		{"short password", func(v url.Values) { v.Set("password", "short"); v.Set("password_confirm", "short") },
			[]string{"Password must be at least 10 characters."}},
		{"bad email", func(v url.Values) { v.Set("email", "nope") }, []string{`id="f-email-error"`}},
		{"no admin name", func(v url.Values) { v.Set("admin_name", "") }, []string{"Your name is required."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newEmptyNode(t)
			form := setupForm("beta")
			tt.change(form)
			rec := n.postForm(t, "/setup", form, "")
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, append(tt.want, `aria-invalid="true"`, "Some fields need a change")...)
			pageWantNoBody(t, rec, testPassword) // passwords are never echoed back
			if ok, _ := n.store.IsSetUp(context.Background()); ok {
				t.Fatal("a rejected setup set the node up")
			}
		})
	}
}

func TestLogin(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/login?next=/manage/services", "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, `name="next" value="/manage/services"`)

	tests := []struct {
		name, email, password, next string
		status                      int
		location                    string
	}{
		{"success", "ada@alpha.example", testPassword, "", http.StatusSeeOther, "/manage"},
		{"success with next", "ADA@alpha.example", testPassword, "/manage/services", http.StatusSeeOther, "/manage/services"},
		{"next elsewhere is ignored", "ada@alpha.example", testPassword, "//evil.example/x", http.StatusSeeOther, "/manage"},
		{"wrong password", "ada@alpha.example", "wrong password!", "", http.StatusUnauthorized, ""},
		{"unknown address", "who@alpha.example", testPassword, "", http.StatusUnauthorized, ""},
		{"nothing", "", "", "", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"email": {tt.email}, "password": {tt.password}, "next": {tt.next}}
			rec := n.postForm(t, "/login", form, "")
			pageWantStatus(t, rec, tt.status)
			if tt.status == http.StatusSeeOther {
				pageWantRedirect(t, rec, tt.location)
				cookie := pageSession(t, rec)
				pageWantStatus(t, n.pageGet(t, "/manage", cookie), http.StatusOK)
				return
			}
			pageWantBody(t, rec, "The e-mail address or the password is wrong")
			if tt.password != "" {
				pageWantNoBody(t, rec, tt.password) // never echoed back
			}
		})
	}
}

func TestManageNeedsLogin(t *testing.T) {
	n := newTestNode(t)
	for _, p := range []string{"/manage", "/manage/profile", "/manage/services/new", "/manage/members", "/manage/tokens"} {
		rec := n.pageGet(t, p, "")
		pageWantRedirect(t, rec, "/login?next="+url.QueryEscape(p))
	}
	rec := n.postForm(t, "/manage/services/new", url.Values{"title": {"x"}}, "")
	pageWantStatus(t, rec, http.StatusSeeOther)
	if list, _ := n.store.ListServices(context.Background(), n.coop.ID, true); len(list) != 0 {
		t.Fatal("an anonymous post created a service")
	}
}

func TestLoginRateLimit(t *testing.T) {
	n := newNodeWith(t, 2)
	form := url.Values{"email": {"x@example.org"}, "password": {"wrong password"}}
	pageWantStatus(t, n.postForm(t, "/login", form, ""), http.StatusUnauthorized)
	rec := n.postForm(t, "/login", form, "")
	pageWantStatus(t, rec, http.StatusTooManyRequests)
	pageWantBody(t, rec, "Too many attempts", "wait a minute")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Setup shares the budget: guessing cannot move over to it.
	pageWantStatus(t, n.postForm(t, "/setup", setupForm("beta"), ""), http.StatusTooManyRequests)
	// Pages that are no attempt are not limited.
	pageWantStatus(t, n.pageGet(t, "/login", ""), http.StatusOK)
}

func TestLogoutEndsSession(t *testing.T) {
	n := newTestNode(t)
	cookie := n.pageLogin(t, "ada@alpha.example", testPassword)
	rec := n.pageGet(t, "/manage", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Log out")

	rec = n.postForm(t, "/logout", nil, cookie)
	pageWantRedirect(t, rec, "/")
	// The old cookie no longer works, even when replayed.
	rec = n.pageGet(t, "/manage", cookie)
	pageWantRedirect(t, rec, "/login?next=%2Fmanage")
	if _, err := n.store.SessionMember(context.Background(), cookie[len(sessionCookie)+1:]); err == nil {
		t.Fatal("the session is still in the store")
	}
}
