package referrals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The envelope is what travels with a referral, as three kinds of compact
// JOSE strings (see doc.go for the whole picture):
//
//   - Payload: a JWS by the origin coop over the canonical JSON of a Payload,
//     which names the first recipient (so that the origin's signature says to
//     whom it sent the request, and nobody can present it as sent to another);
//   - Forwards: one JWS per coop that passed the request on, each over the
//     digest of the payload JWS, the digests of the forwards before it, the
//     forwarder, the recipient, the recipient's hop and the time;
//   - Contact: a JWE of the client's contact details and a salt, encrypted to
//     the current recipient's published key only. The payload carries
//     SHA-256(salt || canonical contact JSON), so a forwarder cannot swap the
//     contact details, and the digest alone does not reveal a guessable
//     e-mail address.

// Defaults of a referral.
const (
	PayloadVersion  = 1
	DefaultOfferTTL = 30 * 24 * time.Hour
	DefaultHopLimit = 3
	// clockSkew is how far in the future a peer's clock may date a payload or
	// a forward.
	clockSkew = 5 * time.Minute
)

// JOSE "typ" headers, so that one kind of signed object cannot be passed off
// as another.
const (
	typPayload = "coopnet-referral+json"
	typForward = "coopnet-referral-forward+json"
	typContact = "coopnet-referral-contact+json"
)

// KeyResolver finds peers' published referral keys. Federation implements it
// by fetching the JWKS named in the peer's actor document (same host as the
// actor id), with VerificationKeyFrom and EncryptionKeyFrom. Errors it returns
// wrapping ErrBadSignature or ErrNotForUs (an unknown kid) refuse the
// referral; other errors (the network) are returned as they are, so that the
// caller can retry.
type KeyResolver interface {
	VerificationKey(ctx context.Context, actorID, kid string) (*jose.JSONWebKey, error)
	EncryptionKey(ctx context.Context, actorID string) (*jose.JSONWebKey, error)
}

// Envelope is a referral's signed and encrypted content, as it travels in an
// Offer.
type Envelope struct {
	Payload  string   `json:"payload"`
	Forwards []string `json:"forwards"`
	Contact  string   `json:"contact"`
}

// Payload is what the origin signs: the request's details and how far it may
// travel.
type Payload struct {
	Version  int    `json:"v"`
	PublicID string `json:"public_id"`
	Origin   string `json:"origin"`
	// To is the coop the origin sent it to.
	To string `json:"to"`
	Details
	HopLimit int       `json:"hop_limit"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	// ContactDigest is base64url(SHA-256(salt || canonical contact JSON)).
	ContactDigest string `json:"contact_digest"`
}

// forwardClaims is what a forwarder signs.
type forwardClaims struct {
	Payload  string    `json:"payload"`
	Previous []string  `json:"previous"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Hop      int       `json:"hop"`
	Time     time.Time `json:"time"`
}

// sealedContact is the plaintext of a contact JWE.
type sealedContact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
	Salt  string `json:"salt"`
}

// Seal makes the envelope of a referral at its origin, from a coop hosted
// here to p.To: it fills in the version, the origin, the times (to the
// second, Expires defaulting to Created + DefaultOfferTTL), the hop limit
// (default DefaultHopLimit) and the contact digest, signs the payload and
// encrypts the contact details to p.To's published key.
func (k *Keys) Seal(ctx context.Context, from Local, p Payload, c Contact, r KeyResolver) (Envelope, error) {
	p.Version, p.Origin = PayloadVersion, from.ActorID
	if p.To == "" || p.PublicID == "" {
		return Envelope{}, fmt.Errorf("referrals: seal: no recipient or public id")
	}
	if p.Created.IsZero() {
		p.Created = time.Now()
	}
	p.Created = p.Created.UTC().Truncate(time.Second)
	if p.Expires.IsZero() {
		p.Expires = p.Created.Add(DefaultOfferTTL)
	}
	p.Expires = p.Expires.UTC().Truncate(time.Second)
	if p.HopLimit == 0 {
		p.HopLimit = DefaultHopLimit
	}
	p.Categories, p.Skills = nonNil(p.Categories), nonNil(p.Skills)
	salt := make([]byte, 16)
	rand.Read(salt)
	digest, err := contactDigest(salt, c)
	if err != nil {
		return Envelope{}, err
	}
	p.ContactDigest = digest
	keys, err := k.For(ctx, from.CoopID)
	if err != nil {
		return Envelope{}, err
	}
	raw, err := CanonicalJSON(p)
	if err != nil {
		return Envelope{}, err
	}
	payload, err := sign(&keys.Signing, typPayload, raw)
	if err != nil {
		return Envelope{}, err
	}
	contact, err := encryptContactTo(ctx, r, p.To, c, salt)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Payload: payload, Forwards: []string{}, Contact: contact}, nil
}

// Forward passes a referral this coop (self) received on to the coop to: it
// opens the envelope (verifying all of it), checks that the client consented,
// the hop limit and that to has not seen the request, re-encrypts the contact
// details to to's key and adds self's forward signature.
func (k *Keys) Forward(ctx context.Context, self Local, env Envelope, to string, r KeyResolver) (Envelope, error) {
	o, err := k.Open(ctx, self, env, r)
	if err != nil {
		return Envelope{}, err
	}
	switch {
	case !o.Payload.ConsentToShare:
		return Envelope{}, fmt.Errorf("%w: request %s may not be passed on", ErrNoConsent, o.Payload.PublicID)
	case o.Hop >= o.Payload.HopLimit:
		return Envelope{}, fmt.Errorf("%w: request %s is at hop %d of %d", ErrHopLimit, o.Payload.PublicID, o.Hop, o.Payload.HopLimit)
	case slices.Contains(o.Chain, to):
		return Envelope{}, fmt.Errorf("%w: %s already had request %s", ErrLoop, to, o.Payload.PublicID)
	}
	contact, err := encryptContactTo(ctx, r, to, o.Contact, o.salt)
	if err != nil {
		return Envelope{}, err
	}
	claims := forwardClaims{Payload: digestOf(env.Payload), Previous: []string{}, From: self.ActorID, To: to,
		Hop: o.Hop + 1, Time: time.Now().UTC().Truncate(time.Second)}
	for _, f := range env.Forwards {
		claims.Previous = append(claims.Previous, digestOf(f))
	}
	raw, err := CanonicalJSON(claims)
	if err != nil {
		return Envelope{}, err
	}
	keys, err := k.For(ctx, self.CoopID)
	if err != nil {
		return Envelope{}, err
	}
	fwd, err := sign(&keys.Signing, typForward, raw)
	if err != nil {
		return Envelope{}, err
	}
	return Envelope{Payload: env.Payload, Forwards: append(slices.Clone(env.Forwards), fwd), Contact: contact}, nil
}

func sign(key *jose.JSONWebKey, typ string, payload []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: SigningAlgorithm, Key: key},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("referrals: signer: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("referrals: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// encryptContactTo encrypts contact details and salt to actor's published
// encryption key.
func encryptContactTo(ctx context.Context, r KeyResolver, actor string, c Contact, salt []byte) (string, error) {
	key, err := r.EncryptionKey(ctx, actor)
	if err != nil {
		return "", fmt.Errorf("referrals: encryption key of %s: %w", actor, err)
	}
	if key == nil || !isPublicP256(*key) {
		return "", fmt.Errorf("referrals: encryption key of %s is not a public P-256 key", actor)
	}
	return encryptContact(key, c, salt)
}

func encryptContact(key *jose.JSONWebKey, c Contact, salt []byte) (string, error) {
	enc, err := jose.NewEncrypter(ContentEncryption, jose.Recipient{Algorithm: KeyAlgorithm, Key: key},
		(&jose.EncrypterOptions{}).WithType(jose.ContentType(typContact)))
	if err != nil {
		return "", fmt.Errorf("referrals: encrypter: %w", err)
	}
	plain, err := json.Marshal(sealedContact{Name: c.Name, Email: c.Email, Phone: c.Phone,
		Salt: base64.RawURLEncoding.EncodeToString(salt)})
	if err != nil {
		return "", fmt.Errorf("referrals: encode contact: %w", err)
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		return "", fmt.Errorf("referrals: encrypt contact: %w", err)
	}
	return obj.CompactSerialize()
}

// contactDigest is base64url(SHA-256(salt || canonical JSON of the contact
// details as {"email","name","phone"})).
func contactDigest(salt []byte, c Contact) (string, error) {
	raw, err := CanonicalJSON(map[string]string{"name": c.Name, "email": c.Email, "phone": c.Phone})
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(salt)
	h.Write(raw)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

// digestOf is base64url(SHA-256(s)), the digest of a compact JWS.
func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Digest is a stable digest of the whole envelope, which the store keeps to
// tell a resent offer from a different one under the same id.
func (env Envelope) Digest() string {
	env.Forwards = nonNil(env.Forwards)
	raw, _ := CanonicalJSON(env)
	return digestOf(string(raw))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
