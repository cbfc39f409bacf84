package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestFetchActor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newInNode(t, d)
		peer := newFakePeer(t, "beta", peerKey(t))
		a, err := n.f.FetchActor(ctx, peer.actorID())
		if err != nil {
			t.Fatal(err)
		}
		want := RemoteActor{ID: peer.actorID(), Host: peer.host(), Type: "Organization", Username: "beta", Name: "Beta Builders",
			URL: peer.actorID(), Inbox: peer.actorID() + "/inbox", SharedInbox: peer.srv.URL + "/inbox", KeyID: peer.actorID() + "#main-key"}
		got := a
		got.PublicKeyPEM, got.FetchedAt = "", time.Time{}
		if got != want {
			t.Errorf("fetched\n %+v\nwant\n %+v", got, want)
		}
		cached, err := n.f.cachedActor(ctx, `id = $1`, peer.actorID())
		if err != nil || cached.PublicKeyPEM != a.PublicKeyPEM || !cached.FetchedAt.Equal(a.FetchedAt) {
			t.Errorf("cached %+v, %v", cached, err)
		}
		if !strings.Contains(peer.getSigs["/coops/beta"], `keyId="`+n.f.urls.InstanceKeyID()+`"`) {
			t.Errorf("actor fetched without the instance actor's signature: %q", peer.getSigs["/coops/beta"])
		}

		for name, tweak := range map[string]func(map[string]any){
			"id of another origin": func(doc map[string]any) { doc["id"] = "https://elsewhere.example/coops/beta" },
			"not an actor":         func(doc map[string]any) { doc["type"] = "Note" },
			"no inbox":             func(doc map[string]any) { delete(doc, "inbox") },
			"over 1 MiB":           func(doc map[string]any) { doc["padding"] = strings.Repeat("x", maxDocumentBytes) },
		} {
			peer.mu.Lock()
			peer.actorTweak = tweak
			peer.mu.Unlock()
			if _, err := n.f.FetchActor(ctx, peer.actorID()); err == nil {
				t.Errorf("%s: fetched", name)
			}
		}
		if _, err := n.f.FetchActor(ctx, peer.srv.URL+"/nobody"); !errors.Is(err, ErrGone) {
			t.Errorf("missing actor: %v, want ErrGone", err)
		}
		if _, err := n.f.FetchActor(ctx, "ftp://x.example/a"); err == nil {
			t.Error("fetched an ftp URL")
		}
	})
}

func TestActorDocReadsLiberally(t *testing.T) {
	const doc = `{
		"@context": ["https://www.w3.org/ns/activitystreams", {"@language": "en"}],
		"id": "https://b.example/users/b", "type": ["Organization"],
		"preferredUsername": "b\u0000ad", "name": null, "summary": 42,
		"url": {"type": "Link", "href": "https://b.example/@b"},
		"inbox": "https://b.example/users/b/inbox",
		"endpoints": {"sharedInbox": "https://b.example/inbox"},
		"publicKey": [
			{"id": "https://evil.example/k", "owner": "https://b.example/users/b", "publicKeyPem": "x"},
			{"id": "https://b.example/users/b#k2", "owner": "https://b.example/users/b", "publicKeyPem": "PEM"}
		],
		"icon": [{"type": "Image", "url": [{"href": "https://b.example/a.png"}]}],
		"manuallyApprovesFollowers": "true",
		"attachment": [
			{"type": "PropertyValue", "name": "Website", "value": "<a href=\"https://b.example/\" rel=\"me\">b.example</a>"},
			{"type": "PropertyValue", "name": "Languages", "value": "de, en"},
			{"type": "PropertyValue", "name": {"en": "odd"}, "value": 3}
		],
		"numberOfEmployees": {"type": "QuantitativeValue", "value": 12},
		"workerOwners": "7",
		"foundingDate": "2011-05-01",
		"address": "Leipzig"
	}`
	var d actorDoc
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://b.example/users/b")
	if err := d.check(u); err != nil {
		t.Fatal(err)
	}
	a := d.remoteActor(time.Now())
	if a.KeyID != "https://b.example/users/b#k2" || a.PublicKeyPEM != "PEM" || a.URL != "https://b.example/@b" ||
		a.SharedInbox != "https://b.example/inbox" || a.Username != "b ad" || a.Type != "Organization" {
		t.Errorf("actor %+v", a)
	}
	c := d.remoteCoop()
	if c.Website != "https://b.example/" || strings.Join(c.Languages, ",") != "de, en" || c.City != "Leipzig" ||
		c.IconURL != "https://b.example/a.png" || !c.ApproveFollowers || c.Workers != 12 || c.WorkerOwners != 7 ||
		c.YearFounded != 2011 || c.Discoverable {
		t.Errorf("coop %+v", c)
	}
}

func TestSameOriginAndHost(t *testing.T) {
	for _, tc := range []struct {
		a, b         string
		origin, host bool
	}{
		{"https://a.example/x", "https://a.example/y#k", true, true},
		{"https://a.example/x", "http://a.example/x", false, true},
		{"https://a.example/x", "https://a.example:8443/x", false, false},
		{"https://A.example/x", "https://a.example/x", true, true},
		{"https://a.example.evil/x", "https://a.example/x", false, false},
		{"not a url", "not a url", false, false},
	} {
		if got := sameOrigin(tc.a, tc.b); got != tc.origin {
			t.Errorf("sameOrigin(%q, %q) = %v", tc.a, tc.b, got)
		}
		if got := sameHost(tc.a, tc.b); got != tc.host {
			t.Errorf("sameHost(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
