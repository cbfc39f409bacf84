package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/coopnet/coopnet/internal/db"
)

// Keys holds the RSA signing keys of the actors served here, made on first
// use and kept in the database; private keys never leave it but to sign.
type Keys struct {
	db    *db.DB
	mu    sync.Mutex
	cache map[string]*Key
}

// Key is an actor's key pair.
type Key struct {
	Private   *rsa.PrivateKey
	PublicPEM string
}

// NewKeys returns the key store over d.
func NewKeys(d *db.DB) *Keys {
	return &Keys{db: d, cache: map[string]*Key{}}
}

// For returns the key of the actor at path owner (ActorPath(slug) or
// InstanceActorPath), creating it when the actor has none yet.
func (k *Keys) For(ctx context.Context, owner string) (*Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.cache[owner]; ok {
		return key, nil
	}
	key, err := k.load(ctx, owner)
	if errors.Is(err, sql.ErrNoRows) {
		key, err = k.create(ctx, owner)
	}
	if err != nil {
		return nil, err
	}
	k.cache[owner] = key
	return key, nil
}

func (k *Keys) load(ctx context.Context, owner string) (*Key, error) {
	var privPEM, pubPEM string
	err := k.db.QueryRow(ctx, `SELECT private_pem, public_pem FROM actor_keys WHERE owner = $1`, owner).Scan(&privPEM, &pubPEM)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(privPEM))
	if block == nil {
		return nil, fmt.Errorf("federation: key of %s is not PEM", owner)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("federation: key of %s: %w", owner, err)
	}
	rsaKey, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("federation: key of %s is not RSA", owner)
	}
	return &Key{Private: rsaKey, PublicPEM: pubPEM}, nil
}

// create makes a key. Two processes may race to create the same key: the
// insert does nothing on conflict and the stored key is read back, so both
// end up with the one that won.
func (k *Keys) create(ctx context.Context, owner string) (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("federation: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("federation: encode key: %w", err)
	}
	pubPEM, err := PublicKeyPEM(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	if _, err := k.db.Exec(ctx, `INSERT INTO actor_keys (owner, private_pem, public_pem, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (owner) DO NOTHING`, owner, privPEM, pubPEM, db.Now()); err != nil {
		return nil, fmt.Errorf("federation: store key: %w", err)
	}
	return k.load(ctx, owner)
}

// PublicKeyPEM encodes a public key as actors publish it (SubjectPublicKeyInfo).
func PublicKeyPEM(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("federation: encode public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// ParsePublicKeyPEM reads a public key as actors publish it: SubjectPublicKeyInfo
// ("PUBLIC KEY"), or PKCS#1 ("RSA PUBLIC KEY"), which some servers still send.
func ParsePublicKeyPEM(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("federation: public key is not PEM")
	}
	if block.Type == "RSA PUBLIC KEY" {
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("federation: public key: %w", err)
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("federation: public key is not RSA")
	}
	return rsaPub, nil
}
