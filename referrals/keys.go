package referrals

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/internal/db"
)

// Each coop hosted here has two referral keys of its own, apart from the RSA
// key its HTTP signatures use: an EC P-256 key that signs referrals (ES256)
// and one that peers encrypt client contact details to (ECDH-ES+A256KW with
// A256GCM). Rotate retires both and makes new ones. Retired signing keys stay
// published, so that referrals signed before a rotation still verify while
// they travel; retired encryption keys stay private, to decrypt what was
// encrypted to them (contact details at rest, offers in flight), and are no
// longer published for new encryption.
//
// A kid is the key's RFC 7638 thumbprint (SHA-256, base64url): stable, and
// unique for a coop, which is all a kid must be: a key is named by (actor id,
// kid).

// The algorithms referrals use, and the only ones they accept.
const (
	SigningAlgorithm  = jose.ES256
	KeyAlgorithm      = jose.ECDH_ES_A256KW
	ContentEncryption = jose.A256GCM
	useSig, useEnc    = "sig", "enc"
)

// Keys keeps the referral keys of the coops hosted here. It caches them; a
// key another process made (after a rotation there) is loaded when a kid is
// not found, and a stale current key only means signing with a key that is
// still published, or encrypting at rest to one that is still kept.
type Keys struct {
	db    *db.DB
	mu    sync.Mutex
	cache map[int64]*CoopKeys
}

// CoopKeys are one coop's private referral keys.
type CoopKeys struct {
	// Signing and Encryption are the current keys.
	Signing    jose.JSONWebKey
	Encryption jose.JSONWebKey
	// Retired are keys replaced by rotations, newest first.
	Retired []jose.JSONWebKey
}

// key finds a private key of the coop by kid and use.
func (c *CoopKeys) key(kid, use string) (*jose.JSONWebKey, bool) {
	for _, k := range append([]jose.JSONWebKey{c.Signing, c.Encryption}, c.Retired...) {
		if k.KeyID == kid && k.Use == use {
			return &k, true
		}
	}
	return nil, false
}

// NewKeys returns the key store over d.
func NewKeys(d *db.DB) *Keys {
	return &Keys{db: d, cache: map[int64]*CoopKeys{}}
}

// For returns a coop's keys, making them on first use.
func (k *Keys) For(ctx context.Context, coopID int64) (*CoopKeys, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.cache[coopID]; ok {
		return c, nil
	}
	return k.reload(ctx, coopID)
}

// reload reads a coop's keys from the database, making the missing ones.
// Callers hold k.mu.
func (k *Keys) reload(ctx context.Context, coopID int64) (*CoopKeys, error) {
	c, err := k.load(ctx, coopID)
	if err != nil {
		return nil, err
	}
	if c.Signing.Key == nil || c.Encryption.Key == nil {
		// Two processes may make keys at once: the partial unique index lets
		// one current key per use in, and both read back the winner.
		if err := k.db.Tx(ctx, func(tx *sql.Tx) error { return insertKeys(ctx, tx, coopID) }); err != nil {
			return nil, err
		}
		if c, err = k.load(ctx, coopID); err != nil {
			return nil, err
		}
		if c.Signing.Key == nil || c.Encryption.Key == nil {
			return nil, fmt.Errorf("referrals: keys of coop %d: not made", coopID)
		}
	}
	k.cache[coopID] = c
	return c, nil
}

// find returns the coop's private key with kid for use, reloading the keys
// once when the kid is unknown (a rotation in another process).
func (k *Keys) find(ctx context.Context, coopID int64, kid, use string) (*jose.JSONWebKey, error) {
	c, err := k.For(ctx, coopID)
	if err != nil {
		return nil, err
	}
	if key, ok := c.key(kid, use); ok {
		return key, nil
	}
	k.mu.Lock()
	c, err = k.reload(ctx, coopID)
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if key, ok := c.key(kid, use); ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w: coop %d has no %s key %q", ErrNotForUs, coopID, use, kid)
}

func (k *Keys) load(ctx context.Context, coopID int64) (*CoopKeys, error) {
	rows, err := k.db.Query(ctx, `SELECT key_use, private_jwk, retired_at IS NULL FROM referral_keys
		WHERE coop_id = $1 ORDER BY id DESC`, coopID)
	if err != nil {
		return nil, fmt.Errorf("referrals: load keys of coop %d: %w", coopID, err)
	}
	defer rows.Close()
	c := &CoopKeys{}
	for rows.Next() {
		var use, raw string
		var current bool
		if err := rows.Scan(&use, &raw, &current); err != nil {
			return nil, fmt.Errorf("referrals: load keys of coop %d: %w", coopID, err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON([]byte(raw)); err != nil {
			return nil, fmt.Errorf("referrals: key of coop %d: %w", coopID, err)
		}
		switch {
		case current && use == useSig:
			c.Signing = jwk
		case current && use == useEnc:
			c.Encryption = jwk
		default:
			c.Retired = append(c.Retired, jwk)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("referrals: load keys of coop %d: %w", coopID, err)
	}
	return c, nil
}

// insertKeys makes a current signing and encryption key for a coop unless it
// has them.
func insertKeys(ctx context.Context, tx *sql.Tx, coopID int64) error {
	now := db.Now()
	for _, spec := range []struct {
		use string
		alg string
	}{{useSig, string(SigningAlgorithm)}, {useEnc, string(KeyAlgorithm)}} {
		jwk, err := newKey(spec.use, spec.alg)
		if err != nil {
			return err
		}
		raw, err := jwk.MarshalJSON()
		if err != nil {
			return fmt.Errorf("referrals: encode key: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO referral_keys (coop_id, kid, key_use, private_jwk, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, coopID, jwk.KeyID, spec.use, string(raw), now)
		if db.IsForeignKeyViolation(err) {
			return fmt.Errorf("%w: coop %d", ErrNotFound, coopID)
		}
		if err != nil {
			return fmt.Errorf("referrals: store key of coop %d: %w", coopID, err)
		}
	}
	return nil
}

func newKey(use, alg string) (jose.JSONWebKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("referrals: make key: %w", err)
	}
	jwk := jose.JSONWebKey{Key: priv, Use: use, Algorithm: alg}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("referrals: key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	return jwk, nil
}

// Rotate retires a coop's current keys and makes new ones: new referrals are
// signed, and contact details encrypted, with the new keys.
func (k *Keys) Rotate(ctx context.Context, coopID int64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE referral_keys SET retired_at = $2
			WHERE coop_id = $1 AND retired_at IS NULL`, coopID, db.Now()); err != nil {
			return fmt.Errorf("referrals: retire keys of coop %d: %w", coopID, err)
		}
		return insertKeys(ctx, tx, coopID)
	})
	if err != nil {
		return err
	}
	_, err = k.reload(ctx, coopID)
	return err
}

// PublicJWKS returns the keys peers need, read afresh from the database: the
// current signing and encryption keys and the retired signing keys, public
// parts only. Federation serves it at a URL named in the coop's actor.
func (k *Keys) PublicJWKS(ctx context.Context, coopID int64) (jose.JSONWebKeySet, error) {
	k.mu.Lock()
	c, err := k.reload(ctx, coopID)
	k.mu.Unlock()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.Signing.Public(), c.Encryption.Public()}}
	for _, r := range c.Retired {
		if r.Use == useSig {
			set.Keys = append(set.Keys, r.Public())
		}
	}
	return set, nil
}

// VerificationKeyFrom picks from a peer's published key set the signing key
// with kid; it refuses anything but a public EC P-256 signing key, so that a
// key set cannot steer verification to another algorithm.
func VerificationKeyFrom(set jose.JSONWebKeySet, kid string) (*jose.JSONWebKey, error) {
	for _, key := range set.Key(kid) {
		if key.Use == useSig && isPublicP256(key) {
			return &key, nil
		}
	}
	return nil, fmt.Errorf("%w: no P-256 signing key %q in the key set", ErrBadSignature, kid)
}

// EncryptionKeyFrom picks from a peer's published key set the key to encrypt
// contact details to: its first public EC P-256 key with use "enc" (a coop
// publishes one).
func EncryptionKeyFrom(set jose.JSONWebKeySet) (*jose.JSONWebKey, error) {
	for _, key := range set.Keys {
		if key.Use == useEnc && isPublicP256(key) {
			return &key, nil
		}
	}
	return nil, fmt.Errorf("%w: no P-256 encryption key in the key set", ErrNotForUs)
}

func isPublicP256(k jose.JSONWebKey) bool {
	pub, ok := k.Key.(*ecdsa.PublicKey)
	return ok && pub.Curve == elliptic.P256()
}
