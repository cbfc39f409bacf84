package referrals

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coopnet/coopnet/internal/validate"
)

// Hop is one forward of a referral: who passed it on to whom, when.
type Hop struct {
	From string
	To   string
	// Hop is the recipient's hop count: 2 for the first forward.
	Hop  int
	Time time.Time
}

// Opened is a verified referral.
type Opened struct {
	Payload Payload
	Contact Contact
	// Forwards are the hand-ons after the origin's, in order.
	Forwards []Hop
	// Chain is every coop the referral went through: the origin, its first
	// recipient, then each forward's recipient; the opening coop is last.
	Chain []string
	// Hop is the opening coop's hop count: 1 when it came from the origin.
	Hop int
	// From is the coop that passed it to us: the last forwarder, or the origin.
	From string

	salt       []byte
	contactJWE string
}

// Open verifies a referral addressed to self, a coop hosted here, and returns
// its content. It checks, and refuses with the error named:
//   - the payload is a JWS by the origin's key, in canonical form (ErrBadSignature,
//     ErrTampered), with valid content (ErrInvalid);
//   - each forward is a JWS by its forwarder's key (ErrBadSignature) and
//     chains: it names the payload and the forwards before it, is from the
//     coop the previous step went to, and counts hops right (ErrTampered);
//   - the last step is addressed to self (ErrNotForUs);
//   - no coop appears twice in the chain (ErrLoop);
//   - forwards only with the client's consent (ErrNoConsent);
//   - hop count within the payload's hop limit (ErrHopLimit);
//   - not past its expiry (ErrExpired);
//   - the contact JWE decrypts with one of self's keys (ErrNotForUs) and
//     matches the payload's contact digest (ErrTampered).
func (k *Keys) Open(ctx context.Context, self Local, env Envelope, r KeyResolver) (Opened, error) {
	now := time.Now()
	p, err := verifyPayload(ctx, env.Payload, r)
	if err != nil {
		return Opened{}, err
	}
	o := Opened{Payload: p, Chain: []string{p.Origin, p.To}, From: p.Origin}
	payloadDigest := digestOf(env.Payload)
	previous := []string{}
	lastTo := p.To
	for i, f := range env.Forwards {
		c, err := verifyForward(ctx, f, r)
		if err != nil {
			return Opened{}, fmt.Errorf("forward %d: %w", i+1, err)
		}
		switch {
		case c.Payload != payloadDigest || !slices.Equal(c.Previous, previous):
			return Opened{}, fmt.Errorf("%w: forward %d by %s does not chain to this referral", ErrTampered, i+1, c.From)
		case c.From != lastTo:
			return Opened{}, fmt.Errorf("%w: forward %d is by %s, but the referral had gone to %s", ErrTampered, i+1, c.From, lastTo)
		case c.Hop != i+2:
			return Opened{}, fmt.Errorf("%w: forward %d counts hop %d", ErrTampered, i+1, c.Hop)
		case c.Time.After(now.Add(clockSkew)):
			return Opened{}, fmt.Errorf("%w: forward %d by %s is dated in the future", ErrTampered, i+1, c.From)
		}
		o.Forwards = append(o.Forwards, Hop{From: c.From, To: c.To, Hop: c.Hop, Time: c.Time})
		o.Chain = append(o.Chain, c.To)
		o.From = c.From
		previous = append(previous, digestOf(f))
		lastTo = c.To
	}
	o.Hop = len(env.Forwards) + 1
	if err := checkRoute(o, self, now); err != nil {
		return Opened{}, err
	}
	contact, salt, err := k.decryptContact(ctx, self.CoopID, env.Contact)
	if err != nil {
		return Opened{}, err
	}
	if d, err := contactDigest(salt, contact); err != nil || d != p.ContactDigest {
		return Opened{}, fmt.Errorf("%w: contact details of request %s do not match the origin's digest", ErrTampered, p.PublicID)
	}
	check := contact
	var e validate.Errors
	if check.normalize(&e); len(e) > 0 {
		return Opened{}, fmt.Errorf("%w: contact details: %w", ErrInvalid, e.Err())
	}
	o.Contact, o.salt, o.contactJWE = contact, salt, env.Contact
	return o, nil
}

// checkRoute checks where a verified referral went and when.
func checkRoute(o Opened, self Local, now time.Time) error {
	p := o.Payload
	last := o.Chain[len(o.Chain)-1]
	if last != self.ActorID {
		return fmt.Errorf("%w: request %s was sent to %s, not %s", ErrNotForUs, p.PublicID, last, self.ActorID)
	}
	for i, a := range o.Chain {
		if slices.Contains(o.Chain[:i], a) {
			return fmt.Errorf("%w: %s appears twice in the chain of request %s", ErrLoop, a, p.PublicID)
		}
	}
	if len(o.Forwards) > 0 && !p.ConsentToShare {
		return fmt.Errorf("%w: request %s was passed on by %s", ErrNoConsent, p.PublicID, o.From)
	}
	if o.Hop > p.HopLimit {
		return fmt.Errorf("%w: request %s arrived at hop %d of %d", ErrHopLimit, p.PublicID, o.Hop, p.HopLimit)
	}
	if now.After(p.Expires) {
		return fmt.Errorf("%w: request %s expired at %s", ErrExpired, p.PublicID, p.Expires.Format(time.RFC3339))
	}
	if p.Created.After(now.Add(clockSkew)) {
		return fmt.Errorf("%w: request %s is dated in the future", ErrTampered, p.PublicID)
	}
	return nil
}

// verifySigned parses a compact ES256 JWS of type typ and verifies it with
// the key of the actor that signer names from the unverified content.
func verifySigned(ctx context.Context, s, typ string, r KeyResolver, signer func([]byte) (string, error)) ([]byte, error) {
	obj, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{SigningAlgorithm})
	if err != nil {
		return nil, fmt.Errorf("%w: not a compact ES256 JWS: %v", ErrBadSignature, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrBadSignature)
	}
	hdr := obj.Signatures[0].Protected
	if got, _ := hdr.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, fmt.Errorf("%w: JWS of type %q, want %q", ErrTampered, got, typ)
	}
	actor, err := signer(obj.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, err
	}
	key, err := r.VerificationKey(ctx, actor, hdr.KeyID)
	if err != nil {
		return nil, fmt.Errorf("referrals: key %q of %s: %w", hdr.KeyID, actor, err)
	}
	if key == nil || !isPublicP256(*key) {
		return nil, fmt.Errorf("%w: key %q of %s is not a public P-256 key", ErrBadSignature, hdr.KeyID, actor)
	}
	raw, err := obj.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: not signed by %s (key %q)", ErrBadSignature, actor, hdr.KeyID)
	}
	if !isCanonical(raw) {
		return nil, fmt.Errorf("%w: signed content is not canonical JSON", ErrTampered)
	}
	return raw, nil
}

func verifyPayload(ctx context.Context, s string, r KeyResolver) (Payload, error) {
	raw, err := verifySigned(ctx, s, typPayload, r, func(b []byte) (string, error) {
		var p Payload
		if err := json.Unmarshal(b, &p); err != nil || p.Origin == "" {
			return "", fmt.Errorf("%w: payload names no origin", ErrInvalid)
		}
		return p.Origin, nil
	})
	if err != nil {
		return Payload{}, fmt.Errorf("payload: %w", err)
	}
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Payload{}, fmt.Errorf("%w: payload: %v", ErrInvalid, err)
	}
	return p, checkPayload(&p)
}

func verifyForward(ctx context.Context, s string, r KeyResolver) (forwardClaims, error) {
	raw, err := verifySigned(ctx, s, typForward, r, func(b []byte) (string, error) {
		var c forwardClaims
		if err := json.Unmarshal(b, &c); err != nil || c.From == "" {
			return "", fmt.Errorf("%w: forward names no forwarder", ErrInvalid)
		}
		return c.From, nil
	})
	if err != nil {
		return forwardClaims{}, err
	}
	var c forwardClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return forwardClaims{}, fmt.Errorf("%w: forward: %v", ErrInvalid, err)
	}
	return c, nil
}

// checkPayload checks a received payload's content like a client's intake,
// except that the deadline may have passed since.
func checkPayload(p *Payload) error {
	var e validate.Errors
	p.Details.normalize(&e, time.Now(), false)
	if p.Version != PayloadVersion {
		e.Add("v", fmt.Sprintf("version %d, want %d", p.Version, PayloadVersion))
	}
	if !publicIDRE.MatchString(p.PublicID) {
		e.Add("public_id", "must be 16 to 64 URL-safe characters")
	}
	validate.Required(&e, "origin", p.Origin, 2000)
	validate.HTTPURL(&e, "origin", p.Origin)
	validate.Required(&e, "to", p.To, 2000)
	validate.HTTPURL(&e, "to", p.To)
	if p.HopLimit < 1 || p.HopLimit > MaxHopLimit {
		e.Add("hop_limit", fmt.Sprintf("must be from 1 to %d", MaxHopLimit))
	}
	if !p.Expires.After(p.Created) {
		e.Add("expires", "must be after created")
	}
	if p.ContactDigest == "" {
		e.Add("contact_digest", "is required")
	}
	if err := e.Err(); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrInvalid, err)
	}
	return nil
}

// decryptContact decrypts a contact JWE with one of the coop's encryption
// keys, current or retired.
func (k *Keys) decryptContact(ctx context.Context, coopID int64, s string) (Contact, []byte, error) {
	obj, err := jose.ParseEncryptedCompact(s, []jose.KeyAlgorithm{KeyAlgorithm}, []jose.ContentEncryption{ContentEncryption})
	if err != nil {
		return Contact{}, nil, fmt.Errorf("%w: contact is not a compact ECDH-ES+A256KW/A256GCM JWE: %v", ErrTampered, err)
	}
	if got, _ := obj.Header.ExtraHeaders[jose.HeaderType].(string); got != typContact {
		return Contact{}, nil, fmt.Errorf("%w: contact JWE of type %q", ErrTampered, got)
	}
	key, err := k.find(ctx, coopID, obj.Header.KeyID, useEnc)
	if err != nil {
		return Contact{}, nil, fmt.Errorf("contact: %w", err)
	}
	plain, err := obj.Decrypt(key)
	if err != nil {
		return Contact{}, nil, fmt.Errorf("%w: contact does not decrypt", ErrTampered)
	}
	var sc sealedContact
	if err := json.Unmarshal(plain, &sc); err != nil {
		return Contact{}, nil, fmt.Errorf("%w: contact: %v", ErrTampered, err)
	}
	salt, err := base64.RawURLEncoding.DecodeString(sc.Salt)
	if err != nil || len(salt) < 16 {
		return Contact{}, nil, fmt.Errorf("%w: contact salt", ErrTampered)
	}
	return Contact{Name: sc.Name, Email: sc.Email, Phone: sc.Phone}, salt, nil
}
