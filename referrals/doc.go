// Package referrals owns work requests from clients, referrals between
// coops, their state machine, and the signing and encryption of what a
// referral carries. It knows no HTTP and no ActivityStreams: federation
// turns a Change into Offer, Accept, Reject and withdrawal activities, and
// the web shows requests, trails and statistics.
//
// # The story
//
// A nonprofit sends a work request to coop A (the origin) without an account:
// Store.CreateRequest returns the request and the secret of its status link
// (32 random bytes, base64url; only its SHA-256 is stored). The client follows
// the request with Store.RequestByStatusToken and Store.Trail(id, true), and
// may withdraw it with Store.WithdrawRequest until a coop takes it.
//
// A's members Take it, Decline it (the reason is shown to the client), or,
// if the client consented (ConsentToShare), Refer it to one or more peers. Each referral is an Offer to one peer; the
// peer accepts or rejects it. The first accept wins: the other open offers
// are withdrawn. The sender may Withdraw an offer until it is answered. With
// every offer rejected or withdrawn, the members decide again: take,
// decline, refer to others, or Close (closed without taker).
//
// A coop that received a referral holds its own Request (same PublicID, Hop
// one more, Chain one longer). It accepts (AcceptReceived, or Take) or
// rejects (RejectReceived, or Decline) the offer, or, if the client consented
// (ConsentToShare), refers it further, up to the hop limit (default 3) and
// never to a coop in its chain or already offered it. When a coop further
// down takes it, each coop on the way accepts its own sender's offer on the
// taker's behalf, so the origin and its client learn who took it.
//
// MarkOutcome records what became of taken or accepted work (in progress,
// completed, lost). Stats counts per peer what was sent, received, accepted
// and completed, in total and by month. PurgeContacts deletes contact details
// of requests closed long enough ago and anonymises the rest.
//
// # States
//
//	new ──Take──────────────▶ taken ──MarkOutcome──▶ (outcome)
//	 │ ╰─Decline────────────▶ declined
//	 ├──Refer──▶ referred ──peer accepts──▶ accepted ──MarkOutcome──▶ (outcome)
//	 │            │  ╰─(no offer open) Take / Decline / Refer / Close ─▶ closed_without_taker
//	 ╰──client or sender withdraws (new, referred) ─────────────────▶ withdrawn
//
// A referral (one offer) is offered, then accepted, rejected or withdrawn.
// Every move is a function of the state machine (machine.go), with a Check
// function the web can call to show only the moves that work. A refused move
// returns an error and changes nothing: *TransitionError (errors.Is
// ErrInvalidTransition, naming the state), or ErrNoConsent, ErrHopLimit,
// ErrLoop, ErrExpired for referrals that may not go on, or a
// *validate.Error for bad input. A request is closed (ClosedAt) when
// declined, accepted by a peer, closed without taker or withdrawn, and when a
// taken one gets a final outcome.
//
// # What federation does with a Change
//
// Every move returns a Change:
//   - Offered: for each, build the envelope with Store.EnvelopeFor, make the
//     Offer, record its id with Store.SetOfferID, send it to Peer.ActorID;
//   - Withdrawn: tell each peer its offer is withdrawn;
//   - Answered: the offer that brought the request here was answered: send
//     its peer an Accept (with Taker when a coop further down took it) or a
//     Reject (with Reason), about Answered.OfferID.
//
// Incoming activities map to: an Offer to Store.ReceiveReferral; an Accept
// or Reject of our offer to Store.RecordAccepted / RecordRejected (idempotent
// by the answer's id; the answering actor must be the peer the offer went
// to); a peer's withdrawal of its offer to Store.RecordWithdrawn; a peer's
// notice that it passed our offer on to Store.RecordForwarded (when the
// request came from a peer itself, pass the notice on to Request.FromActor
// about Request.OfferID). Sentinel errors from these (ErrBadSignature,
// ErrNotForUs, ErrExpired, ErrHopLimit, ErrLoop, ErrNoConsent, ErrTampered,
// ErrReplay, ErrInvalid, ErrInvalidTransition, ErrNotFound) are final: log
// them with the peer and answer with a Reject; other errors (database, a key
// set that could not be fetched) may be retried. An answer that crosses a
// withdrawal in flight is ErrInvalidTransition at both ends: the sender's
// state stands, and it is the one the client sees.
//
// # The envelope
//
// What travels with an Offer is an Envelope of three compact JOSE strings:
//
//   - Payload: a JWS (ES256, kid header, typ "coopnet-referral+json") by the
//     origin over the canonical JSON (canonical.go) of a Payload: the
//     request's Details, PublicID, Origin, To (the first recipient), Created,
//     Expires (Created + 30 days by default), HopLimit, ConsentToShare and
//     ContactDigest = base64url(SHA-256(salt || canonical JSON of
//     {"email","name","phone"})).
//   - Forwards: per coop that passed it on, a JWS (typ
//     "coopnet-referral-forward+json") over {payload: digest of the payload
//     JWS, previous: digests of the earlier forwards, from, to, hop (the
//     recipient's), time}; digests are base64url(SHA-256(compact JWS)).
//   - Contact: a JWE (ECDH-ES+A256KW, A256GCM, typ
//     "coopnet-referral-contact+json") of {name, email, phone, salt},
//     encrypted to the current recipient's published encryption key only.
//
// Keys.Seal makes it at the origin; Keys.Forward passes it on (re-encrypting
// the contact to the next coop and adding a forward); Keys.Open verifies all
// of it (see Open for the checks and their errors). Store.EnvelopeFor and
// Store.ReceiveReferral call them; federation need not.
//
// # Keys
//
// Each coop hosted here has referral keys of its own, separate from its RSA
// HTTP-signature key: an EC P-256 signing key and an EC P-256 encryption key
// (Keys, keys.go), made on first use and kept as private JWKs in the
// database. Keys.PublicJWKS is what federation publishes at a URL named in the
// coop's actor: the current keys and the retired signing keys. A kid is the
// key's RFC 7638 thumbprint, resolved as (actor id, kid). Federation
// implements KeyResolver by fetching a peer's key set (from the actor's own
// host) and picking with VerificationKeyFrom and EncryptionKeyFrom.
//
// Contact details at rest are a JWE to the holding coop's own encryption
// key (for a received request, the JWE it arrived in); members read them with
// Store.ContactFor. Contact never prints with fmt or slog.
package referrals
