package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// postSigned posts an activity of the key peer's actor to the node's coop
// inbox, signed with the fake peers' RSA key, and returns the status.
func (p *keyPeer) postSigned(t *testing.T, n *inNode, act map[string]any) int {
	t.Helper()
	body, _ := json.Marshal(act)
	req, _ := http.NewRequest(http.MethodPost, n.actorID()+"/inbox", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	if err := SignRequest(req, body, p.actor+"#main-key", peerKey(t), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// offer is an Offer from the key peer carrying env, to the node's coop.
func (p *keyPeer) offer(n *inNode, id string, env referrals.Envelope) map[string]any {
	return map[string]any{
		"@context": activityStreamsContext, "id": p.srv.URL + "/activities/" + id, "type": "Offer",
		"actor": p.actor, "to": []string{n.actorID()},
		"object": map[string]any{"type": "Note", "id": p.actor + "/referrals/x", "coopnet:referral": env},
	}
}

// TestInboxReferralRetryAndRefusal: a referral whose keys cannot be fetched
// yet is answered 500 and applied when sent again; one that does not verify
// is answered 202 and refused with a Reject naming the reason.
func TestInboxReferralRetryAndRefusal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n, refs := newRefNode(t, d)
		peer := newKeyPeer(t, d)
		peer.withHTTPKey(t)
		env, err := peer.keys.Seal(ctx, referrals.Local{CoopID: peer.coopID, ActorID: peer.actor},
			referrals.Payload{PublicID: "retryRetryRetry123", To: n.actorID(),
				Details: referrals.Details{Organization: "Food Bank", Description: "A website, please."}},
			referrals.Contact{Name: "Ann", Email: "ann@foodbank.example"}, n.f.KeyResolver())
		if err != nil {
			t.Fatal(err)
		}
		held := func() int {
			list, err := refs.ListRequests(ctx, n.coop.ID, referrals.Filter{Source: referrals.FromPeers})
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}

		peer.status.Store(http.StatusBadGateway)
		if got := peer.postSigned(t, n, peer.offer(n, "1", env)); got != http.StatusInternalServerError {
			t.Fatalf("keys unreachable: %d, want 500", got)
		}
		if held() != 0 || n.count(t, `SELECT COUNT(*) FROM inbox_seen`) != 0 {
			t.Fatal("a failed referral was recorded")
		}
		peer.status.Store(0)
		for range 2 { // the retry, and a duplicate
			if got := peer.postSigned(t, n, peer.offer(n, "1", env)); got != http.StatusAccepted {
				t.Fatalf("retry: %d", got)
			}
		}
		if held() != 1 || n.count(t, `SELECT COUNT(*) FROM inbox_seen`) != 1 {
			t.Fatalf("%d requests held after a retry and a duplicate", held())
		}

		bad := env
		bad.Payload = bad.Payload[:len(bad.Payload)-4] + "AAAA"
		if got := peer.postSigned(t, n, peer.offer(n, "2", bad)); got != http.StatusAccepted {
			t.Fatalf("bad signature: %d", got)
		}
		rejects := n.activitiesOf(t, "Reject")
		if len(rejects) != 1 || rejects[0]["coopnet:refusal"] != "bad-signature" ||
			rejects[0]["object"].(map[string]any)["id"] != peer.srv.URL+"/activities/2" || held() != 1 {
			t.Fatalf("refusal: %v", rejects)
		}
		// The Reject waits for the peer, whose inbox is known.
		if c := n.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'deliver'`); c != 1 {
			t.Errorf("%d deliveries queued", c)
		}
		if !strings.Contains(rejects[0]["content"].(string), "signatures") {
			t.Errorf("content %q", rejects[0]["content"])
		}
	})
}

// withHTTPKey makes the key peer's actor publish the fake peers' RSA key, so
// that it can sign what it posts.
func (p *keyPeer) withHTTPKey(t *testing.T) {
	pemKey, err := PublicKeyPEM(&peerKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p.publicKeyPEM.Store(pemKey)
}
