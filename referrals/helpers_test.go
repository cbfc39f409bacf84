package referrals

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/internal/db"
)

// testNet is a few coops hosted on one node, each with its referral keys,
// and a KeyResolver over their published key sets, as federation would
// resolve them over HTTP.
type testNet struct {
	keys  *Keys
	coops map[string]Local
	// fetches counts key set reads, to see what a resolver would fetch.
	fetches int
}

func newTestNet(t testing.TB, d *db.DB, actors ...string) *testNet {
	t.Helper()
	if len(actors) == 0 {
		actors = []string{actorA, actorB, actorC, actorD}
	}
	n := &testNet{keys: NewKeys(d), coops: map[string]Local{}}
	for i, actor := range actors {
		var id int64
		now := db.Now()
		err := d.Tx(context.Background(), func(tx *sql.Tx) error {
			return tx.QueryRow(`INSERT INTO coops (slug, name, created_at, updated_at)
				VALUES ($1, $2, $3, $3) RETURNING id`, fmt.Sprintf("coop%d", i), "Coop "+actor[8:9], now).Scan(&id)
		})
		if err != nil {
			t.Fatal(err)
		}
		n.coops[actor] = Local{CoopID: id, ActorID: actor}
	}
	return n
}

func (n *testNet) set(ctx context.Context, actor string) (jose.JSONWebKeySet, error) {
	c, ok := n.coops[actor]
	if !ok {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: unknown actor %s", ErrBadSignature, actor)
	}
	n.fetches++
	return n.keys.PublicJWKS(ctx, c.CoopID)
}

func (n *testNet) VerificationKey(ctx context.Context, actor, kid string) (*jose.JSONWebKey, error) {
	set, err := n.set(ctx, actor)
	if err != nil {
		return nil, err
	}
	return VerificationKeyFrom(set, kid)
}

func (n *testNet) EncryptionKey(ctx context.Context, actor string) (*jose.JSONWebKey, error) {
	set, err := n.set(ctx, actor)
	if err != nil {
		return nil, err
	}
	return EncryptionKeyFrom(set)
}

// cachedResolver resolves keys once per actor, as federation would with a
// cache, so that benchmarks measure the cryptography.
type cachedResolver struct {
	n    *testNet
	sets map[string]jose.JSONWebKeySet
}

func (c *cachedResolver) get(ctx context.Context, actor string) (jose.JSONWebKeySet, error) {
	if s, ok := c.sets[actor]; ok {
		return s, nil
	}
	s, err := c.n.set(ctx, actor)
	if err == nil {
		c.sets[actor] = s
	}
	return s, err
}

func (c *cachedResolver) VerificationKey(ctx context.Context, actor, kid string) (*jose.JSONWebKey, error) {
	set, err := c.get(ctx, actor)
	if err != nil {
		return nil, err
	}
	return VerificationKeyFrom(set, kid)
}

func (c *cachedResolver) EncryptionKey(ctx context.Context, actor string) (*jose.JSONWebKey, error) {
	set, err := c.get(ctx, actor)
	if err != nil {
		return nil, err
	}
	return EncryptionKeyFrom(set)
}
