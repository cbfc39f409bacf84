package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// testNode is a web server over a real SQLite store, set up with one coop and
// its admin (password testPassword).
type testNode struct {
	e     *echo.Echo
	store *directory.Store
	fed   *federation.Federation
	dir   *directory.Directory
	refs  *referrals.Store
	coop  directory.Coop
	admin directory.Member
}

const testPassword = "correct horse battery"

func newTestNode(t *testing.T) *testNode {
	t.Helper()
	return newTestNodeOn(t, testdb.SQLite(t))
}

// newTestNodeOn is newTestNode over d, for tests run on both databases.
func newTestNodeOn(t *testing.T, d *db.DB) *testNode {
	t.Helper()
	return newTestNodeWith(t, d, nil)
}

// newTestNodeWith is newTestNodeOn with the Config that tweak changes.
func newTestNodeWith(t *testing.T, d *db.DB, tweak func(c *Config)) *testNode {
	t.Helper()
	n := newNodeConfig(t, d, tweak)
	c, m, err := n.store.Setup(context.Background(), directory.SetupInput{
		CoopName: "Alpha Tech Coop", Slug: "alpha", AdminName: "Ada", AdminEmail: "ada@alpha.example", Password: testPassword,
	}, "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	n.coop, n.admin = c, m
	if err := n.dir.Build(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// newEmptyNode is a node that has not been set up yet.
func newEmptyNode(t *testing.T) *testNode {
	t.Helper()
	return newNodeWith(t, 1000)
}

// newNodeWith is a node, not set up, allowing loginAttempts per minute.
func newNodeWith(t testing.TB, loginAttempts float64) *testNode {
	t.Helper()
	return newNodeOn(t, testdb.SQLite(t), loginAttempts)
}

// newNodeOn is a node over d, not set up, allowing loginAttempts per minute.
func newNodeOn(t testing.TB, d *db.DB, loginAttempts float64) *testNode {
	t.Helper()
	return newNodeConfig(t, d, func(c *Config) { c.LoginAttemptsPerMinute = loginAttempts })
}

// newNodeConfig is a node over d, not set up, with the Config that tweak
// changes; work requests are not rate-limited unless tweak says so.
func newNodeConfig(t testing.TB, d *db.DB, tweak func(c *Config)) *testNode {
	t.Helper()
	store := directory.NewStore(d, bcrypt.MinCost)
	base, _ := url.Parse("http://localhost:8080")
	log := slog.New(slog.DiscardHandler)
	refs := referrals.NewStore(d, referrals.NewKeys(d), referrals.Config{})
	fed, err := federation.New(federation.Config{DB: d, Directory: store, Referrals: refs, BaseURL: base, Logger: log, AllowPrivateAddresses: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory.NewDirectory(store)
	cfg := Config{BaseURL: base, Store: store, Directory: dir, Referrals: refs, Federation: fed, Logger: log,
		LoginAttemptsPerMinute: 1000, WorkRequestsPerHour: 100000}
	if tweak != nil {
		tweak(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{e: e, store: store, fed: fed, dir: dir, refs: refs}
}

// do sends a request through the whole handler stack and returns the recorder.
func (n *testNode) do(t *testing.T, method, target string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	n.e.ServeHTTP(rec, req)
	return rec
}

// token creates a personal access token for m.
func (n *testNode) token(t *testing.T, m directory.Member) string {
	t.Helper()
	_, secret, err := n.store.CreateToken(context.Background(), m.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// session logs m in and returns the session cookie header value.
func (n *testNode) session(t *testing.T, m directory.Member) string {
	t.Helper()
	secret, err := n.store.CreateSession(context.Background(), m.ID, sessionTTL)
	if err != nil {
		t.Fatal(err)
	}
	return sessionCookie + "=" + secret
}

// postForm posts a form as a logged-in browser from this site would
// (Sec-Fetch-Site: same-origin satisfies the CSRF check).
func (n *testNode) postForm(t *testing.T, target string, form url.Values, cookie string) *httptest.ResponseRecorder {
	t.Helper()
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return n.do(t, http.MethodPost, target, strings.NewReader(form.Encode()), h)
}
