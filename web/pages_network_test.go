package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coopnet/coopnet/federation"
)

func TestNetworkPage(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)

	rec := n.pageGet(t, "/manage/network", admin)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "alpha@localhost:8080", "Follow a coop", "follows no one yet",
		"Coops you may want to follow", "No suggestions yet")

	for _, tc := range []struct {
		name, handle, want string
	}{
		{"empty", "", "is required"},
		{"this node", "alpha@localhost:8080", "on this node"},
		{"garbage", "not a handle at all", "Could not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := n.postForm(t, "/manage/network/follow", url.Values{"handle": {tc.handle}}, admin)
			pageWantStatus(t, rec, http.StatusBadRequest)
			pageWantBody(t, rec, tc.want)
		})
	}
	following, err := n.fed.Following(context.Background(), n.coop.ID)
	if err != nil || len(following) != 0 {
		t.Fatalf("failed follows recorded: %v, %v", following, err)
	}

	rec = n.postForm(t, "/manage/network/unfollow", url.Values{"actor": {"https://nowhere.example/coops/x"}}, admin)
	pageWantStatus(t, rec, http.StatusNotFound)
}

func TestNetworkActionsAreForAdmins(t *testing.T) {
	n := newTestNode(t)
	member := n.session(t, n.pageMember(t, "bea@alpha.example"))
	pageWantStatus(t, n.pageGet(t, "/manage/network", member), http.StatusOK)
	for _, p := range []string{"/manage/network/follow", "/manage/network/approve", "/manage/network/remove", "/manage/federation/policy"} {
		rec := n.postForm(t, p, url.Values{"handle": {"beta@peer.example"}, "actor": {"x"}, "action": {"block"}, "host": {"peer.example"}}, member)
		pageWantStatus(t, rec, http.StatusForbidden)
	}
	pageWantStatus(t, n.pageGet(t, "/manage/federation", member), http.StatusForbidden)
	if p, _ := n.fed.Policy(context.Background()); len(p.Rules) != 0 {
		t.Fatal("a plain member changed the policy")
	}
}

func TestFederationAdmin(t *testing.T) {
	n := newTestNode(t)
	admin := n.session(t, n.admin)
	ctx := context.Background()

	rec := n.pageGet(t, "/manage/federation", admin)
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "Federation policy", "Every delivery has arrived")

	rec = n.postForm(t, "/manage/federation/policy", url.Values{"action": {"block"}, "host": {"Spam.Example"}, "reason": {"spam"}}, admin)
	pageWantRedirect(t, rec, "/manage/federation?done=policy-saved")
	p, err := n.fed.Policy(ctx)
	if err != nil || len(p.Rules) != 1 || p.Rules[0].Host != "spam.example" || p.Rules[0].Action != "block" {
		t.Fatalf("policy %+v, %v", p, err)
	}
	pageWantBody(t, n.pageGet(t, "/manage/federation", admin), "spam.example")

	rec = n.postForm(t, "/manage/federation/policy", url.Values{"action": {"mode"}, "mode": {"allowlist"}}, admin)
	pageWantRedirect(t, rec, "/manage/federation?done=policy-saved")
	if p, _ := n.fed.Policy(ctx); p.Mode != "allowlist" {
		t.Fatalf("mode %q", p.Mode)
	}

	for _, bad := range []url.Values{
		{"action": {"mode"}, "mode": {"closed"}},
		{"action": {"explode"}},
		{"action": {"block"}, "host": {"bad host/with path"}},
	} {
		rec := n.postForm(t, "/manage/federation/policy", bad, admin)
		pageWantStatus(t, rec, http.StatusBadRequest)
	}
	if p, _ := n.fed.Policy(ctx); p.Mode != "allowlist" || len(p.Rules) != 1 {
		t.Fatalf("bad input changed the policy: %+v", p)
	}
	pageWantStatus(t, n.postForm(t, "/manage/federation/deliveries/999/retry", nil, admin), http.StatusNotFound)
}

// The inboxes take signed POSTs from other servers: the CSRF check must not
// stand in their way (the signature check answers instead).
func TestInboxesAreNotForms(t *testing.T) {
	n := newTestNode(t)
	for _, p := range []string{"/inbox", "/coops/alpha/inbox"} {
		h := http.Header{}
		h.Set("Content-Type", "application/activity+json")
		rec := n.do(t, http.MethodPost, p, strings.NewReader(`{"type":"Follow"}`), h)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401 from the signature check; body %s", p, rec.Code, rec.Body)
		}
	}
}

func TestFollowedBy(t *testing.T) {
	via := func(names ...string) []federation.SuggestionVia {
		out := []federation.SuggestionVia{}
		for _, n := range names {
			out = append(out, federation.SuggestionVia{Name: n, Handle: "h-" + n})
		}
		return out
	}
	for _, tc := range []struct {
		via  []federation.SuggestionVia
		want string
	}{
		{via("A"), "A"},
		{via("A", "B"), "A and B"},
		{via("A", "B", "C"), "A, B and 1 other"},
		{via("A", "B", "C", "D"), "A, B and 2 others"},
		{via(""), "h-"},
		{nil, ""},
	} {
		if got := followedBy(tc.via); got != tc.want {
			t.Errorf("followedBy(%v) = %q, want %q", tc.via, got, tc.want)
		}
	}
}
