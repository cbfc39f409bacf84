package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/referrals"
)

// Referral keys. Each coop publishes a JWK Set of its referral keys
// (referrals.Keys.PublicJWKS) at {actor}/keys.json, named in its actor as
// coopnet:keys. keyResolver implements referrals.KeyResolver: for a coop
// hosted here it reads the keys directly; for a peer it fetches the actor,
// then the key set from the URL the actor names, which must be on the
// actor's own origin, and caches the set in memory for keySetTTL. A kid not
// in a cached set makes it fetch the set once more (the peer rotated its
// keys), never in a loop.

// JWKSContentType is the media type of a JWK Set (RFC 7517).
const JWKSContentType = "application/jwk-set+json"

const (
	// keySetTTL is how long a peer's key set is used without fetching it
	// again. A rotation is noticed sooner: by the unknown kid.
	keySetTTL = time.Hour
	// keySetRefetchAfter is how old a cached set must be before an unknown
	// kid fetches it again: forged kids cannot make the node fetch a peer's
	// keys in a loop. A kid unknown in a younger set is a retryable error,
	// so the sender tries again once the set may be fetched.
	keySetRefetchAfter = time.Minute
	// maxKeySets bounds the cache; when full it starts afresh.
	maxKeySets = 10000
)

// serveReferralKeys answers GET /coops/:slug/keys.json with the coop's
// published referral keys. Like the actor, it needs no signature.
func (f *Federation) serveReferralKeys(c echo.Context) error {
	if f.refs == nil {
		return writeFedError(c, http.StatusNotFound, "referrals are not enabled on this node")
	}
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	set, err := f.refs.store.Keys().PublicJWKS(c.Request().Context(), coop.ID)
	if err != nil {
		return f.internalError(c, err)
	}
	// Short enough that a rotation reaches caches soon; peers that find an
	// unknown kid fetch again anyway.
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return writeDocument(c, http.StatusOK, JWKSContentType, set)
}

// keyResolver finds coops' referral keys (referrals.KeyResolver).
type keyResolver struct {
	f            *Federation
	ttl          time.Duration
	refetchAfter time.Duration

	mu   sync.Mutex
	sets map[string]cachedKeySet // by actor id
}

type cachedKeySet struct {
	set     jose.JSONWebKeySet
	fetched time.Time
}

var _ referrals.KeyResolver = (*keyResolver)(nil)

func newKeyResolver(f *Federation) *keyResolver {
	return &keyResolver{f: f, ttl: keySetTTL, refetchAfter: keySetRefetchAfter, sets: map[string]cachedKeySet{}}
}

// VerificationKey implements referrals.KeyResolver.
func (r *keyResolver) VerificationKey(ctx context.Context, actorID, kid string) (*jose.JSONWebKey, error) {
	if coop, ok, err := r.f.localCoop(ctx, actorID); err != nil {
		return nil, err
	} else if ok {
		return r.localVerificationKey(ctx, coop.ID, kid)
	}
	cached, fresh, err := r.keySet(ctx, actorID, false)
	if err != nil {
		return nil, err
	}
	key, err := referrals.VerificationKeyFrom(cached.set, kid)
	if err == nil || fresh {
		return key, err
	}
	if age := r.f.cfg.Now().Sub(cached.fetched); age < r.refetchAfter {
		return nil, fmt.Errorf("federation: key %q of %s is not in its key set fetched %s ago; try again later",
			kid, actorID, age.Round(time.Second))
	}
	cached, _, err = r.keySet(ctx, actorID, true)
	if err != nil {
		return nil, err
	}
	return referrals.VerificationKeyFrom(cached.set, kid)
}

// EncryptionKey implements referrals.KeyResolver. A cached encryption key
// replaced by a rotation is still fine to use: the peer keeps its retired
// keys to decrypt what was encrypted to them.
func (r *keyResolver) EncryptionKey(ctx context.Context, actorID string) (*jose.JSONWebKey, error) {
	if coop, ok, err := r.f.localCoop(ctx, actorID); err != nil {
		return nil, err
	} else if ok {
		keys, err := r.f.refs.store.Keys().For(ctx, coop.ID)
		if err != nil {
			return nil, err
		}
		pub := keys.Encryption.Public()
		return &pub, nil
	}
	cached, _, err := r.keySet(ctx, actorID, false)
	if err != nil {
		return nil, err
	}
	return referrals.EncryptionKeyFrom(cached.set)
}

// localVerificationKey finds a signing key of a coop hosted here, reading
// the keys again when the kid is not among those cached (a rotation made by
// another process).
func (r *keyResolver) localVerificationKey(ctx context.Context, coopID int64, kid string) (*jose.JSONWebKey, error) {
	keys, err := r.f.refs.store.Keys().For(ctx, coopID)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{keys.Signing.Public()}}
	for _, k := range keys.Retired {
		set.Keys = append(set.Keys, k.Public())
	}
	if key, err := referrals.VerificationKeyFrom(set, kid); err == nil {
		return key, nil
	}
	if set, err = r.f.refs.store.Keys().PublicJWKS(ctx, coopID); err != nil {
		return nil, err
	}
	return referrals.VerificationKeyFrom(set, kid)
}

// keySet returns a peer's key set from the cache, or fetched when it is not
// there, older than the TTL, or refresh is set; fresh tells it was fetched
// now.
func (r *keyResolver) keySet(ctx context.Context, actorID string, refresh bool) (cachedKeySet, bool, error) {
	now := r.f.cfg.Now()
	r.mu.Lock()
	c, ok := r.sets[actorID]
	r.mu.Unlock()
	if ok && !refresh && now.Sub(c.fetched) < r.ttl {
		return c, false, nil
	}
	set, err := r.fetch(ctx, actorID)
	if err != nil {
		return cachedKeySet{}, false, err
	}
	c = cachedKeySet{set: set, fetched: now}
	r.mu.Lock()
	if len(r.sets) >= maxKeySets {
		r.sets = map[string]cachedKeySet{}
	}
	r.sets[actorID] = c
	r.mu.Unlock()
	return c, true, nil
}

// forgetReferralKeys drops a peer's cached key set: its actor was updated,
// perhaps after a rotation.
func (f *Federation) forgetReferralKeys(actorID string) {
	if f.refs == nil {
		return
	}
	r := f.refs.resolver
	r.mu.Lock()
	delete(r.sets, actorID)
	r.mu.Unlock()
}

// RotateReferralKeys gives a coop of ours new referral keys
// (referrals.Keys.Rotate: the old signing key stays published, retired) and
// sends its followers an Update of its actor, on which peers drop the key
// set they cached. Peers that do not follow it fetch the new set when they
// meet an unknown kid.
func (f *Federation) RotateReferralKeys(ctx context.Context, coopID int64) error {
	if f.refs == nil {
		return errNoRefs
	}
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return err
	}
	if err := f.refs.store.Keys().Rotate(ctx, coopID); err != nil {
		return err
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error { return f.publishProfile(ctx, tx, coop) })
}

// fetch reads a peer's actor, then the key set it names. What makes the
// peer's referrals unverifiable for good (no key set, one on another
// origin, a document that is gone or not an actor, a host the policy
// refuses) is final (ErrBadSignature, or the policy's error); the network
// and the peer's server errors are returned as they are, to retry.
func (r *keyResolver) fetch(ctx context.Context, actorID string) (jose.JSONWebKeySet, error) {
	f := r.f
	body, final, err := f.fetchSigned(ctx, stripFragment(actorID))
	if err != nil {
		return jose.JSONWebKeySet{}, finalFetchError(actorID, err)
	}
	var doc actorDoc
	var links struct {
		Keys     jsonID `json:"coopnet:keys"`
		BareTerm jsonID `json:"keys"`
		Expanded jsonID `json:"https://github.com/coopnet/coopnet/blob/main/FEDERATION.md#keys"`
	}
	if json.Unmarshal(body, &doc) != nil || json.Unmarshal(body, &links) != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: %s is not an actor document", referrals.ErrBadSignature, actorID)
	}
	if err := doc.check(final); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: %w", referrals.ErrBadSignature, err)
	}
	if string(doc.ID) != actorID {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: %s names itself %s", referrals.ErrBadSignature, actorID, doc.ID)
	}
	// The actor document is at hand: keep the cached actor (its inbox, its
	// HTTP signature key) current too.
	if _, err := f.saveActor(ctx, &doc); err != nil {
		return jose.JSONWebKeySet{}, err
	}
	keysURL := string(links.Keys)
	for _, alt := range []jsonID{links.Expanded, links.BareTerm} {
		if keysURL == "" {
			keysURL = string(alt)
		}
	}
	if keysURL == "" {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: %s publishes no referral keys (coopnet:keys)", referrals.ErrBadSignature, actorID)
	}
	if !sameOrigin(keysURL, actorID) {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: the key set of %s is on another origin (%s)", referrals.ErrBadSignature, actorID, keysURL)
	}
	body, final, err = f.fetchSigned(ctx, keysURL)
	if err != nil {
		return jose.JSONWebKeySet{}, finalFetchError(actorID, err)
	}
	if !sameOrigin(final.String(), actorID) {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: the key set of %s was redirected to another origin (%s)", referrals.ErrBadSignature, actorID, final)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("%w: the key set of %s: %v", referrals.ErrBadSignature, actorID, err)
	}
	return set, nil
}

// finalFetchError marks the fetch errors that will not go away by trying
// again as ErrBadSignature (the policy's refusal keeps its own error, which
// refusalCode names "blocked").
func finalFetchError(actorID string, err error) error {
	if errors.Is(err, ErrHostRefused) || errors.Is(err, ErrPrivateAddress) {
		return err
	}
	if errors.Is(err, ErrGone) || errors.Is(err, ErrNotActor) {
		return fmt.Errorf("%w: keys of %s: %w", referrals.ErrBadSignature, actorID, err)
	}
	return err
}
