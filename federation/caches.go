package federation

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// The inbox checks the policy and the signer's key on every request. Both
// change rarely, and reading them from the database cost about a sixth of
// an inbox request on SQLite, so each process keeps them in memory for a
// short while. Changes made through this process are seen at once; those
// made by another process sharing the database (or by a command) within
// the time to live.
const (
	policyCacheTTL = 2 * time.Second
	keyCacheTTL    = 10 * time.Minute
	keyCacheMax    = 10000
)

// policyCache holds the federation policy as the delivery worker reads it.
type policyCache struct {
	mu   sync.Mutex
	p    deliveryPolicy
	read time.Time // zero: read again
}

func (c *policyCache) get(ctx context.Context, query func(context.Context, string, ...any) (*sql.Rows, error)) (deliveryPolicy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read.IsZero() && time.Since(c.read) < policyCacheTTL {
		return c.p, nil
	}
	p, err := readDeliveryPolicy(ctx, query)
	if err != nil {
		return deliveryPolicy{}, err
	}
	c.p, c.read = p, time.Now()
	return p, nil
}

func (c *policyCache) invalidate() {
	c.mu.Lock()
	c.read = time.Time{}
	c.mu.Unlock()
}

// keyCache holds parsed public keys of remote actors by key id.
type keyCache struct {
	mu      sync.RWMutex
	keys    map[string]cachedSignerKey
	byActor map[string]string // actor id → key id
}

type cachedSignerKey struct {
	key signerKey
	at  time.Time
}

func newKeyCache() *keyCache {
	return &keyCache{keys: map[string]cachedSignerKey{}, byActor: map[string]string{}}
}

func (c *keyCache) get(keyID string) (signerKey, bool) {
	c.mu.RLock()
	e, ok := c.keys[keyID]
	c.mu.RUnlock()
	if !ok || time.Since(e.at) > keyCacheTTL {
		return signerKey{}, false
	}
	return e.key, true
}

func (c *keyCache) put(keyID string, k signerKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= keyCacheMax {
		clear(c.keys)
		clear(c.byActor)
	}
	c.keys[keyID] = cachedSignerKey{key: k, at: time.Now()}
	c.byActor[k.actor.ID] = keyID
}

// forget drops the key of an actor whose cached document changed or went.
func (c *keyCache) forget(actorID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if keyID, ok := c.byActor[actorID]; ok {
		delete(c.keys, keyID)
		delete(c.byActor, actorID)
	}
}

// clear drops every key, as when the database was changed behind the cache.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.keys)
	clear(c.byActor)
}
