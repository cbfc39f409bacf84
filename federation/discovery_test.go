package federation_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
)

// suggestions returns what p suggests to its coop, as "actor via via,via
// (depth)" lines, for comparison.
func (p *peerNode) suggestions() []string {
	p.t.Helper()
	list, err := p.n.Federation.Suggestions(context.Background(), p.coop.ID)
	if err != nil {
		p.t.Fatal(err)
	}
	out := []string{}
	for _, s := range list {
		var via []string
		for _, v := range s.Via {
			via = append(via, v.Name)
		}
		out = append(out, fmt.Sprintf("%s (%s) via %s (%d)", s.Name, s.Handle, strings.Join(via, ","), s.Depth))
	}
	return out
}

func (p *peerNode) discover(want federation.DiscoveryReport) {
	p.t.Helper()
	got, err := p.n.Federation.RefreshDiscovery(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	if got != want {
		p.t.Fatalf("RefreshDiscovery: %+v, want %+v", got, want)
	}
}

func wantSuggestions(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("suggestions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A follows B, B follows C and D (which is not discoverable), C follows E.
// A is suggested C through B; at depth 2 also E through C; never D. The
// network page shows C with a Follow form that works; once A follows C it
// is no longer suggested.
func TestNetworkSuggestions(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		ctx := context.Background()
		a, b, c := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta"), newPeer(t, open(t), "gamma")
		d, e := newPeer(t, open(t), "delta"), newPeer(t, open(t), "epsilon")
		// Rounds run when the test says, not when the page wakes the loop.
		a.n.Federation.ConfigureFreshness(federation.FreshnessOptions{Manual: true})
		d.coop.Discoverable = false
		if _, err := d.n.Store.UpdateCoop(ctx, d.coop); err != nil {
			t.Fatal(err)
		}
		c.follows(e)
		b.follows(c)
		b.follows(d)
		a.follows(b)

		wantSuggestions(t, a.suggestions()) // nothing read yet
		a.discover(federation.DiscoveryReport{PeersRead: 1, ActorsRead: 2})
		wantSuggestions(t, a.suggestions(), "Coop gamma ("+c.handle()+") via Coop beta (1)")
		a.discover(federation.DiscoveryReport{}) // read lately: served from the database

		a.n.Federation.ConfigureFreshness(federation.FreshnessOptions{Manual: true, DiscoveryDepth: 2})
		a.discover(federation.DiscoveryReport{PeersRead: 2, ActorsRead: 1}) // C's and D's follows; E
		wantSuggestions(t, a.suggestions(),
			"Coop gamma ("+c.handle()+") via Coop beta (1)",
			"Coop epsilon ("+e.handle()+") via Coop gamma (2)")

		page := a.adminBrowser()
		body := page.get("/manage/network")
		for _, want := range []string{"Coops you may want to follow", "Coop gamma", "Followed by Coop beta", "Coop epsilon"} {
			if !strings.Contains(body, want) {
				t.Fatalf("the network page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "Coop delta") {
			t.Fatal("the network page suggests D, which is not discoverable")
		}
		form := followForm(t, body, c.actor())
		if loc := page.post("/manage/network/follow", form); loc != "/manage/network?done=follow-sent" {
			t.Fatalf("the Follow form redirected to %q", loc)
		}
		for _, s := range a.suggestions() {
			if strings.HasPrefix(s, "Coop gamma ") {
				t.Fatal("C is still suggested once followed")
			}
		}
		eventually(t, "C accepts A", func() bool { return a.followingState(c.actor()) == "accepted" })
		// E is now followed by a peer A follows: depth 1.
		wantSuggestions(t, a.suggestions(), "Coop epsilon ("+e.handle()+") via Coop gamma (1)")
	})
}

// browser is an HTTP client logged in to a node as its coop's admin, that
// keeps cookies (the session, the CSRF cookie) as a browser would.
type browser struct {
	t      *testing.T
	base   *url.URL
	client *http.Client
}

func (p *peerNode) adminBrowser() *browser {
	p.t.Helper()
	ctx := context.Background()
	m, err := p.n.Store.MemberByEmail(ctx, "admin@"+p.coop.Slug+".example")
	if err != nil {
		p.t.Fatal(err)
	}
	secret, err := p.n.Store.CreateSession(ctx, m.ID, time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(p.base, []*http.Cookie{{Name: "coopnet_session", Value: secret, Path: "/"}})
	return &browser{t: p.t, base: p.base, client: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(path string) string {
	b.t.Helper()
	resp, err := b.client.Get(b.base.String() + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	return string(body)
}

// post submits a form (no Sec-Fetch-Site: the CSRF token must do) and
// returns where it redirects.
func (b *browser) post(path string, form url.Values) string {
	b.t.Helper()
	resp, err := b.client.PostForm(b.base.String()+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("POST %s: %d\n%s", path, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// followForm finds the page's Follow form for actorID and returns its
// fields as the browser would send them.
func followForm(t *testing.T, page, actorID string) url.Values {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var found url.Values
	var walk func(n *html.Node, form url.Values)
	walk = func(n *html.Node, form url.Values) {
		if n.Type == html.ElementNode && n.Data == "form" && attr(n, "action") == "/manage/network/follow" && attr(n, "method") == "post" {
			form = url.Values{}
			defer func() {
				if form.Get("handle") == actorID {
					found = form
				}
			}()
		}
		if n.Type == html.ElementNode && n.Data == "input" && form != nil {
			form.Add(attr(n, "name"), attr(n, "value"))
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, form)
		}
	}
	walk(doc, nil)
	if found == nil || found.Get("_csrf") == "" {
		t.Fatalf("no Follow form with a CSRF token for %s in:\n%s", actorID, page)
	}
	return found
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// The suggestions page never waits for a peer: what it finds unread, the
// background loop reads, and a later visit shows it.
func TestNetworkSuggestionsInBackground(t *testing.T) {
	eachDialect(t, func(t *testing.T, open func(testing.TB) *db.DB) {
		a, b, c := newPeer(t, open(t), "alpha"), newPeer(t, open(t), "beta"), newPeer(t, open(t), "gamma")
		b.follows(c)
		a.follows(b)
		eventually(t, "the loop reads what A's page asks for", func() bool {
			return len(a.suggestions()) == 1
		})
		wantSuggestions(t, a.suggestions(), "Coop gamma ("+c.handle()+") via Coop beta (1)")
	})
}
