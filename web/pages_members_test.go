package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

var inviteLinkRE = regexp.MustCompile(`value="http://localhost:8080(/invitations/[A-Za-z0-9_-]+)"`)

func TestInviteAcceptAndLogin(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)

	rec := n.pageGet(t, "/manage/members", admin)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<td>Ada (you)</td>", "ada@alpha.example", "Invite someone")

	rec = n.postForm(t, "/manage/members/invite", url.Values{"email": {"Bea@Alpha.example"}, "role": {"member"}}, admin)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Invitation ready for Bea@Alpha.example", "shown only now")
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a page with a secret", cc)
	}
	m := inviteLinkRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no invitation link on the page")
	}
	link := m[1]
	rec = n.pageGet(t, "/manage/members", admin)
	pageWantBody(t, rec, "bea@alpha.example (member), valid until")
	pageWantNoBody(t, rec, link)

	rec = n.pageGet(t, link, "")
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Join Alpha Tech Coop</h1>", "bea@alpha.example", `action="`+link+`"`)

	bad := url.Values{"name": {"Bea"}, "password": {"short"}, "password_confirm": {"short"}}
	rec = n.postForm(t, link, bad, "")
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, "Choose a password must be at least 10 characters.", `value="Bea"`)

	good := url.Values{"name": {"Bea"}, "password": {"bea's long password"}, "password_confirm": {"bea's long password"}}
	rec = n.postForm(t, link, good, "")
	pageWantRedirect(t, rec, "/manage")
	rec = n.pageGet(t, "/manage", pageSession(t, rec))
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Hello Bea")
	pageWantNoBody(t, rec, `href="/manage/members"`) // not an admin

	// The link works once; the new member can log in with their password.
	rec = n.pageGet(t, link, "")
	pageWantStatus(t, rec, http.StatusNotFound)
	pageWantBody(t, rec, "This invitation link does not work")
	pageWantStatus(t, n.postForm(t, link, good, ""), http.StatusNotFound)
	n.pageLogin(t, "bea@alpha.example", "bea's long password")
}

func TestInvitationLinkErrors(t *testing.T) {
	n := newTestNode(t)
	for _, link := range []string{"/invitations/nonsense", "/invitations/" + "A%2F..%2F"} {
		rec := n.pageGet(t, link, "")
		pageWantStatus(t, rec, http.StatusNotFound)
		pageWantBody(t, rec, "it may have been used already, or it has expired")
	}
	secret, err := n.store.Invite(context.Background(), n.coop.ID, n.admin.ID, "cy@alpha.example", directory.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	rec := n.postForm(t, "/invitations/"+secret, url.Values{"name": {""}, "password": {testPassword}, "password_confirm": {"other password"}}, "")
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, "Your name is required.", "Password again must be the same as the password.")
	if _, err := n.store.Invitation(context.Background(), secret); err != nil {
		t.Fatal("a rejected form used the invitation up")
	}
}

func TestInviteRejectsBadInput(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)
	tests := []struct {
		email, role, message string
	}{
		{"", "member", "Their e-mail address is required."},
		{"not an address", "member", "must be an e-mail address"},
		{"ada@alpha.example", "member", "A member with this e-mail address already exists."},
		{"new@alpha.example", "owner", "Role must be one of the choices in the list."},
	}
	for _, tt := range tests {
		rec := n.postForm(t, "/manage/members/invite", url.Values{"email": {tt.email}, "role": {tt.role}}, admin)
		pageWantStatus(t, rec, http.StatusBadRequest)
		pageWantBody(t, rec, tt.message)
		pageWantNoBody(t, rec, "/invitations/")
	}
	if inv, _ := n.store.PendingInvitations(context.Background(), n.coop.ID); len(inv) != 0 {
		t.Fatalf("rejected invitations were made: %v", inv)
	}
}

func TestRemoveMember(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)
	bea := n.pageMember(t, "bea@alpha.example")
	beaCookie := n.session(t, bea)
	id := strconv.FormatInt(bea.ID, 10)

	rec := n.postForm(t, "/manage/members/"+id+"/remove", nil, admin)
	pageWantRedirect(t, rec, "/manage/members?done=member-removed")
	rec = n.pageGet(t, "/manage/members?done=member-removed", admin)
	pageWantBody(t, rec, "The member is removed.")
	pageWantNoBody(t, rec, "bea@alpha.example")
	// Their session ended with them.
	pageWantRedirect(t, n.pageGet(t, "/manage", beaCookie), "/login?next=%2Fmanage")

	pageWantStatus(t, n.postForm(t, "/manage/members/"+id+"/remove", nil, admin), http.StatusNotFound)
	pageWantStatus(t, n.postForm(t, "/manage/members/x/remove", nil, admin), http.StatusNotFound)
}

func TestLastAdminCannotBeRemoved(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)
	rec := n.postForm(t, "/manage/members/"+strconv.FormatInt(n.admin.ID, 10)+"/remove", nil, admin)
	pageWantStatus(t, rec, http.StatusConflict)
	pageWantBody(t, rec, "only admin, so they cannot be removed", "<td>Ada (you)</td>")
	if _, err := n.store.MemberByID(context.Background(), n.admin.ID); err != nil {
		t.Fatal("the last admin was removed")
	}
}

func TestMembersPagesAreForAdmins(t *testing.T) {
	n := newTestNode(t)
	bea := n.pageMember(t, "bea@alpha.example")
	cookie := n.session(t, bea)

	rec := n.pageGet(t, "/manage/members", cookie)
	pageWantStatus(t, rec, http.StatusForbidden)
	pageWantBody(t, rec, "only admins of the coop can do this")

	rec = n.postForm(t, "/manage/members/invite", url.Values{"email": {"eve@alpha.example"}, "role": {"admin"}}, cookie)
	pageWantStatus(t, rec, http.StatusForbidden)
	rec = n.postForm(t, "/manage/members/"+strconv.FormatInt(n.admin.ID, 10)+"/remove", nil, cookie)
	pageWantStatus(t, rec, http.StatusForbidden)

	if inv, _ := n.store.PendingInvitations(context.Background(), n.coop.ID); len(inv) != 0 {
		t.Fatal("a plain member made an invitation")
	}
	if _, err := n.store.MemberByID(context.Background(), n.admin.ID); err != nil {
		t.Fatal("a plain member removed the admin")
	}
}

func TestTokens(t *testing.T) {
	n := newTestNode(t)
	cookie := n.session(t, n.admin)

	rec := n.pageGet(t, "/manage/tokens", cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "You have no tokens.")

	rec = n.postForm(t, "/manage/tokens", url.Values{"name": {"sync script"}}, cookie)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Your new token “sync script”", "shown only this once", "<td>sync script</td>")
	secret := regexp.MustCompile(`value="(` + directory.TokenPrefix + `[A-Za-z0-9_-]+)"`).FindStringSubmatch(rec.Body.String())
	if secret == nil {
		t.Fatal("no token on the page")
	}
	if m, err := n.store.TokenMember(context.Background(), secret[1]); err != nil || m.ID != n.admin.ID {
		t.Fatalf("the shown token does not work: %v", err)
	}
	rec = n.pageGet(t, "/manage/tokens", cookie)
	pageWantBody(t, rec, "<td>sync script</td>")
	pageWantNoBody(t, rec, secret[1])

	rec = n.postForm(t, "/manage/tokens", url.Values{"name": {"  "}}, cookie)
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, "What it is for is required.")

	list, _ := n.store.ListTokens(context.Background(), n.admin.ID)
	if len(list) != 1 {
		t.Fatalf("%d tokens", len(list))
	}
	id := strconv.FormatInt(list[0].ID, 10)
	pageWantRedirect(t, n.postForm(t, "/manage/tokens/"+id+"/revoke", nil, cookie), "/manage/tokens?done=token-revoked")
	if _, err := n.store.TokenMember(context.Background(), secret[1]); err == nil {
		t.Fatal("the revoked token still works")
	}
	pageWantStatus(t, n.postForm(t, "/manage/tokens/"+id+"/revoke", nil, cookie), http.StatusNotFound)
	pageWantStatus(t, n.postForm(t, "/manage/tokens/abc/revoke", nil, cookie), http.StatusNotFound)
}

func TestTokensAreTheMembersOwn(t *testing.T) {
	n := newTestNode(t)
	bea := n.pageMember(t, "bea@alpha.example")
	tok, _, err := n.store.CreateToken(context.Background(), n.admin.ID, "admin's")
	if err != nil {
		t.Fatal(err)
	}
	cookie := n.session(t, bea)
	pageWantNoBody(t, n.pageGet(t, "/manage/tokens", cookie), "admin&#39;s")
	pageWantStatus(t, n.postForm(t, "/manage/tokens/"+strconv.FormatInt(tok.ID, 10)+"/revoke", nil, cookie), http.StatusNotFound)
	if list, _ := n.store.ListTokens(context.Background(), n.admin.ID); len(list) != 1 {
		t.Fatal("another member revoked the admin's token")
	}
}

func TestDashboard(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/manage", n.session(t, n.admin))
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Manage Alpha Tech Coop</h1>", `href="/manage/profile"`, `href="/manage/services"`,
		`href="/manage/members"`, `href="/manage/tokens"`, `href="/coops/alpha"`)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
}
