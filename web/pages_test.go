package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/coopnet/coopnet/directory"
)

// pageGet fetches a page as a browser on this site would.
func (n *testNode) pageGet(t *testing.T, target, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	h := http.Header{}
	h.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return n.do(t, http.MethodGet, target, nil, h)
}

// pageMember adds a plain member (not an admin) to the test coop.
func (n *testNode) pageMember(t *testing.T, email string) directory.Member {
	t.Helper()
	ctx := context.Background()
	secret, err := n.store.Invite(ctx, n.coop.ID, n.admin.ID, email, directory.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.store.AcceptInvitation(ctx, secret, "Bea", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pageLogin logs in through the login form and returns the session cookie.
func (n *testNode) pageLogin(t *testing.T, email, password string) string {
	t.Helper()
	rec := n.postForm(t, "/login", url.Values{"email": {email}, "password": {password}}, "")
	pageWantStatus(t, rec, http.StatusSeeOther)
	return pageSession(t, rec)
}

// pageSession returns the session cookie a response sets, as a Cookie header
// value.
func pageSession(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var value string
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			value = c.Value // the last one set wins, as in a browser
		}
	}
	if value == "" {
		t.Fatalf("no session cookie set; headers %v", rec.Header())
	}
	return sessionCookie + "=" + value
}

func pageWantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body:\n%s", rec.Code, status, rec.Body.String())
	}
}

func pageWantRedirect(t *testing.T, rec *httptest.ResponseRecorder, location string) {
	t.Helper()
	pageWantStatus(t, rec, http.StatusSeeOther)
	if got := rec.Header().Get("Location"); got != location {
		t.Fatalf("redirect to %q, want %q", got, location)
	}
}

// pageWantBody checks that the page has each text and is well-formed for
// assistive technology (see pageCheckHTML).
func pageWantBody(t *testing.T, rec *httptest.ResponseRecorder, texts ...string) {
	t.Helper()
	body := rec.Body.String()
	for _, s := range texts {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q; body:\n%s", s, body)
		}
	}
	pageCheckHTML(t, body)
}

func pageWantNoBody(t *testing.T, rec *httptest.ResponseRecorder, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("page has %q, want it absent", s)
		}
	}
}

// pageCheckHTML checks what every page must get right: one h1, headings in
// order, a label for every control, a CSRF field in every POST form.
func pageCheckHTML(t *testing.T, body string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	var h1s, last int
	labels, controls := map[string]bool{}, []string{}
	var walk func(n *html.Node, form *html.Node)
	walk = func(n *html.Node, form *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "h1", "h2", "h3", "h4", "h5", "h6":
				level := int(n.Data[1] - '0')
				if level == 1 {
					h1s++
				}
				if level > last+1 {
					t.Errorf("heading %s follows h%d", n.Data, last)
				}
				last = level
			case "label":
				labels[pageAttr(n, "for")] = true
			case "input", "select", "textarea":
				if typ := pageAttr(n, "type"); typ != "hidden" && typ != "submit" {
					controls = append(controls, pageAttr(n, "id"))
				}
			case "form":
				form = n
				if strings.EqualFold(pageAttr(n, "method"), "post") && !pageHasCSRF(n) {
					t.Errorf("POST form to %s has no _csrf field", pageAttr(n, "action"))
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	if h1s != 1 {
		t.Errorf("page has %d h1 elements, want 1", h1s)
	}
	for _, id := range controls {
		if id == "" || !labels[id] {
			t.Errorf("form control %q has no <label for>", id)
		}
	}
}

func pageAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func pageHasCSRF(form *html.Node) bool {
	found := false
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && pageAttr(n, "name") == "_csrf" && pageAttr(n, "value") != "" {
			found = true
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return found
}

func TestStaticStylesheet(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/static/style.css", "")
	pageWantStatus(t, rec, http.StatusOK)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age") {
		t.Errorf("Cache-Control %q", cc)
	}
	etag := rec.Header().Get("ETag")
	h := http.Header{"If-None-Match": {etag}}
	if rec := n.do(t, http.MethodGet, "/static/style.css", nil, h); rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: status %d, want 304", rec.Code)
	}
	for _, p := range []string{"/static/nothing.css", "/static/../templates/layout.html", "/static/"} {
		if rec := n.pageGet(t, p, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, rec.Code)
		}
	}
}

func TestCSRF(t *testing.T) {
	n := newTestNode(t)
	cookie := n.session(t, n.admin)
	form := url.Values{"name": {"Changed"}, "capacity": {"open"}}

	t.Run("no Sec-Fetch-Site and no token is refused", func(t *testing.T) {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookie}}
		rec := n.do(t, http.MethodPost, "/manage/profile", strings.NewReader(form.Encode()), h)
		pageWantStatus(t, rec, http.StatusForbidden)
		pageWantBody(t, rec, "reload the page")
	})
	t.Run("cross-site is refused", func(t *testing.T) {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookie}, "Sec-Fetch-Site": {"cross-site"}}
		rec := n.do(t, http.MethodPost, "/manage/profile", strings.NewReader(form.Encode()), h)
		pageWantStatus(t, rec, http.StatusForbidden)
	})
	if co, _ := n.store.CoopBySlug(context.Background(), "alpha"); co.Name != "Alpha Tech Coop" {
		t.Fatalf("a refused form changed the name to %q", co.Name)
	}

	t.Run("the token from the page is accepted", func(t *testing.T) {
		rec := n.do(t, http.MethodGet, "/manage/profile", nil, http.Header{"Cookie": {cookie}})
		pageWantStatus(t, rec, http.StatusOK)
		var token string
		for _, c := range rec.Result().Cookies() {
			if c.Name == "coopnet_csrf" {
				token = c.Value
			}
		}
		pageWantBody(t, rec, `name="_csrf" value="`+token+`"`)
		form := url.Values{"name": {"Changed"}, "capacity": {"open"}, "_csrf": {token}}
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {cookie + "; coopnet_csrf=" + token}}
		rec = n.do(t, http.MethodPost, "/manage/profile", strings.NewReader(form.Encode()), h)
		pageWantRedirect(t, rec, "/manage/profile?done=saved")
	})
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/manage/services", "/manage/services"},
		{"/coops/alpha?x=1", "/coops/alpha?x=1"},
		{"", "/manage"},
		{"//evil.example/", "/manage"},
		{"/\\evil.example", "/manage"},
		{"https://evil.example/", "/manage"},
		{"manage", "/manage"},
		{"/a\r\nSet-Cookie: x", "/manage"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"We build websites for nonprofits", 20, "We build websites…"},
		{"Ünïcödé wörds hére", 10, "Ünïcödé…"},
	}
	for _, tt := range tests {
		if got := excerpt(tt.in, tt.n); got != tt.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestUnknownPageIs404(t *testing.T) {
	n := newTestNode(t)
	rec := n.pageGet(t, "/no/such/page", "")
	pageWantStatus(t, rec, http.StatusNotFound)
	pageWantBody(t, rec, "<h1>Not Found</h1>")
}

func TestGarbageInputIsNeverA500(t *testing.T) {
	n := newTestNode(t)
	cookie := n.session(t, n.admin)
	for _, p := range []string{"/coops/%ff", "/coops/%00", "/coops/" + strings.Repeat("a", 300), "/coops/alpha/services/99999999999999999999999",
		"/coops/alpha/services/%ff", "/invitations/%ff%00", "/manage/services/%ff/edit"} {
		rec := n.pageGet(t, p, cookie)
		pageWantStatus(t, rec, http.StatusNotFound)
	}
	form := profileForm()
	form.Set("name", "Alpha\xff\x00Coop")
	form.Set("worker_owners", "\xff")
	rec := n.postForm(t, "/manage/profile", form, cookie)
	pageWantStatus(t, rec, http.StatusBadRequest)
	pageWantBody(t, rec, "Number of worker-owners must be a whole number")

	form.Set("worker_owners", "7")
	pageWantStatus(t, n.postForm(t, "/manage/profile", form, cookie), http.StatusSeeOther)
	if co, _ := n.store.CoopBySlug(context.Background(), "alpha"); co.Name != "Alpha\uFFFD\uFFFDCoop" {
		t.Fatalf("name stored as %q", co.Name)
	}
	rec = n.postForm(t, "/login", url.Values{"email": {"\xff@x\x00"}, "password": {"\xff"}}, "")
	pageWantStatus(t, rec, http.StatusUnauthorized)
}
