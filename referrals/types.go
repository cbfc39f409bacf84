package referrals

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Errors callers compare with errors.Is. Each is returned wrapped with detail
// (which request, which peer, what was wrong), so that federation can log the
// reason and answer a peer with a Reject, and the web can show it.
var (
	ErrNotFound          = errors.New("referrals: not found")
	ErrInvalidTransition = errors.New("referrals: invalid transition")
	ErrContactPurged     = errors.New("referrals: contact details were purged")
	ErrConflict          = errors.New("referrals: conflict")

	// Envelope and referral checks. A peer's referral failing one of these is
	// refused, never stored.
	ErrBadSignature = errors.New("referrals: bad signature")
	ErrNotForUs     = errors.New("referrals: not addressed to this coop")
	ErrExpired      = errors.New("referrals: referral expired")
	ErrHopLimit     = errors.New("referrals: hop limit reached")
	ErrLoop         = errors.New("referrals: coop already visited")
	ErrNoConsent    = errors.New("referrals: the client did not consent to sharing")
	ErrTampered     = errors.New("referrals: referral altered or inconsistent")
	ErrReplay       = errors.New("referrals: offer id reused")
	ErrInvalid      = errors.New("referrals: invalid referral content")
)

// State is where a request stands at the coop holding it.
type State string

// The states of a request. A request starts new; taken, declined, accepted,
// closed without taker and withdrawn are final (an outcome can still be marked
// on taken and accepted ones).
const (
	// StateNew: arrived (from a client or a peer), nobody has acted yet.
	StateNew State = "new"
	// StateTaken: this coop took the work on.
	StateTaken State = "taken"
	// StateDeclined: this coop declined it, with a reason the client sees.
	StateDeclined State = "declined"
	// StateReferred: offers went out to peers. With no offer left open (all
	// rejected or withdrawn), the coop decides again: take, decline, refer to
	// others or close.
	StateReferred State = "referred"
	// StateAccepted: a peer accepted one of the offers (first accept wins).
	StateAccepted State = "accepted"
	// StateUnplaced: closed without a taker after the offers came back.
	StateUnplaced State = "closed_without_taker"
	// StateWithdrawn: the client withdrew the request (at the origin), or the
	// sender withdrew its offer (at a coop it was referred to).
	StateWithdrawn State = "withdrawn"
)

// States lists every request state, for filters and forms.
var States = []State{StateNew, StateTaken, StateDeclined, StateReferred, StateAccepted, StateUnplaced, StateWithdrawn}

// Outcome is what became of work a coop took on or placed with a peer.
type Outcome string

// The outcomes. The empty outcome means none was marked yet.
const (
	OutcomeNone       Outcome = ""
	OutcomeInProgress Outcome = "in_progress"
	OutcomeCompleted  Outcome = "completed"
	OutcomeLost       Outcome = "lost"
)

// Direction says whether this coop sent a referral or received it.
type Direction string

// The directions of a referral.
const (
	Sent     Direction = "sent"
	Received Direction = "received"
)

// OfferState is where one referral (one Offer to one peer) stands.
type OfferState string

// The states of a referral: offered until the peer answers or the sender
// withdraws it.
const (
	OfferOffered   OfferState = "offered"
	OfferAccepted  OfferState = "accepted"
	OfferRejected  OfferState = "rejected"
	OfferWithdrawn OfferState = "withdrawn"
)

// Details is what the client asked for: the part of a request that travels
// with a referral. JSON names are those of forms, the API and the payload.
type Details struct {
	Organization string   `json:"organization"`
	Description  string   `json:"description"`
	Categories   []string `json:"categories"`
	Skills       []string `json:"skills"`
	BudgetMin    *int64   `json:"budget_min"`
	BudgetMax    *int64   `json:"budget_max"`
	Currency     string   `json:"currency"`
	// Deadline is a date, YYYY-MM-DD, or empty.
	Deadline string `json:"deadline"`
	Country  string `json:"country"`
	Region   string `json:"region"`
	Language string `json:"language"`
	// ConsentToShare lets the request leave the coop the client wrote to:
	// be referred to peers, and by them further along the chain.
	ConsentToShare bool `json:"consent_to_share"`
}

// Contact is how to reach the client. It is kept apart from the request,
// encrypted, and purged some days after the request closes. It never prints
// in logs or with %v: use the fields.
type Contact struct {
	Name  string `json:"contact_name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// String hides the contact details, so that a stray log line or %v does not
// leak them.
func (c Contact) String() string { return "[contact redacted]" }

// GoString hides the contact details from %#v too.
func (c Contact) GoString() string { return c.String() }

// LogValue hides the contact details from log/slog.
func (c Contact) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Format hides the contact details from every fmt verb (%+v would otherwise
// print the fields).
func (c Contact) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// Local is a coop hosted on this node as referrals sees it: its row in coops
// and its ActivityPub actor id (federation's URLs.Actor).
type Local struct {
	CoopID  int64
	ActorID string
}

// Peer is another coop: its actor id and the name shown in the trail.
type Peer struct {
	ActorID string `json:"actor_id"`
	Name    string `json:"name"`
}

// Request is a work request at the coop holding it: sent by a client to this
// coop (Hop 0, the origin) or referred to it by a peer (Hop > 0). Each coop a
// request reaches holds its own Request row with the same PublicID.
type Request struct {
	ID       int64  `json:"id"`
	CoopID   int64  `json:"-"`
	PublicID string `json:"public_id"`
	Details
	// OriginActor is the coop the client wrote to.
	OriginActor string `json:"origin_actor"`
	// Hop is 0 at the origin, 1 at a coop the origin referred it to, and so on.
	Hop      int `json:"hop"`
	HopLimit int `json:"hop_limit"`
	// Chain is the actor ids of the coops the request went through to get
	// here, the origin first and this coop last.
	Chain []string `json:"chain"`
	// FromActor, FromName and OfferID name the peer that referred it here and
	// its Offer; empty at the origin.
	FromActor string  `json:"from_actor,omitempty"`
	FromName  string  `json:"from_name,omitempty"`
	OfferID   string  `json:"offer_id,omitempty"`
	State     State   `json:"state"`
	Outcome   Outcome `json:"outcome"`
	// TakerActor and TakerName name the peer that took it on (state accepted):
	// the peer we sent it to, or a coop further down the chain.
	TakerActor string     `json:"taker_actor,omitempty"`
	TakerName  string     `json:"taker_name,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	// PurgedAt is when the contact details were deleted and the free text
	// cleared; what is left serves statistics.
	PurgedAt *time.Time `json:"purged_at"`

	version int
}

// Received reports whether the request was referred here by a peer.
func (r Request) Received() bool { return r.Hop > 0 }

// Referral is one Offer of a request to one peer, sent by this coop or
// received by it.
type Referral struct {
	ID        int64      `json:"id"`
	RequestID int64      `json:"request_id"`
	CoopID    int64      `json:"-"`
	Peer      Peer       `json:"peer"`
	Direction Direction  `json:"direction"`
	State     OfferState `json:"state"`
	// Reason is the peer's (or our) reason for a rejection.
	Reason string `json:"reason"`
	// OfferID is the id of the Offer activity, set by federation.
	OfferID string `json:"offer_id"`
	// AnswerID is the id of the peer's Accept or Reject (sent referrals).
	AnswerID string `json:"answer_id"`
	// Taker is who took the work on when the peer accepted on behalf of a
	// coop further down the chain; empty when the peer itself took it.
	Taker      Peer       `json:"taker"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	AnsweredAt *time.Time `json:"answered_at"`
	// UndeliveredAt is when federation gave up delivering the Offer of a
	// sent referral, for UndeliveredReason. The referral stays offered.
	UndeliveredAt     *time.Time `json:"undelivered_at"`
	UndeliveredReason string     `json:"undelivered_reason"`

	dirty bool
}

// Undelivered reports whether r is an open offer of ours whose Offer could
// not be delivered: the members should withdraw it and refer elsewhere.
func (r Referral) Undelivered() bool {
	return r.Direction == Sent && r.State == OfferOffered && r.UndeliveredAt != nil
}

// EventKind names what happened in a request's trail.
type EventKind string

// The kinds of trail events.
const (
	EventCreated        EventKind = "created"
	EventReceived       EventKind = "received"
	EventTaken          EventKind = "taken"
	EventDeclined       EventKind = "declined"
	EventSent           EventKind = "sent"
	EventAccepted       EventKind = "accepted"
	EventRejected       EventKind = "rejected"
	EventForwarded      EventKind = "forwarded"
	EventOfferWithdrawn EventKind = "offer_withdrawn"
	EventPeerWithdrew   EventKind = "peer_withdrew"
	EventClientWithdrew EventKind = "client_withdrew"
	EventUnplaced       EventKind = "closed_without_taker"
	EventOutcome        EventKind = "outcome"
	EventUndelivered    EventKind = "undelivered"
	// EventAnswerUndelivered: our Accept or Reject of a received referral
	// did not reach the coop that sent it.
	EventAnswerUndelivered EventKind = "answer_undelivered"
	// EventWithdrawalUndelivered: our Undo of a sent referral did not reach
	// the peer.
	EventWithdrawalUndelivered EventKind = "withdrawal_undelivered"
)

// Event is one step of a request's trail. Text is written for the client
// (the status page shows the events with ClientVisible); Detail is for the
// coop's members only, such as a peer's reason for rejecting.
type Event struct {
	ID            int64     `json:"id"`
	RequestID     int64     `json:"request_id"`
	At            time.Time `json:"at"`
	Kind          EventKind `json:"kind"`
	PeerActor     string    `json:"peer_actor,omitempty"`
	Text          string    `json:"text"`
	Detail        string    `json:"detail,omitempty"`
	ClientVisible bool      `json:"client_visible"`
}

// Change is the result of every state change: the request as it is now, and
// what federation must tell peers about it.
type Change struct {
	Request Request
	// Offered are new referrals: send each peer an Offer (build it with
	// Store.EnvelopeFor, record its id with Store.SetOfferID).
	Offered []Referral
	// Withdrawn are offers this change withdrew: tell each peer.
	Withdrawn []Referral
	// Answered is the referral that brought this request here, when this
	// change answered it: send its peer an Accept (State accepted, with Taker
	// when a coop further down took it) or a Reject (State rejected, Reason).
	Answered *Referral
	// Events are the trail events the change added, with their ids: what
	// notifications tell members and the client.
	Events []Event
	// StatusToken is the secret of the client's status link, set only in the
	// change CreateRequest makes: only its hash is kept, so the client's
	// first e-mail is the one place besides the page after sending that can
	// carry the link. It never goes further (logs, activities).
	StatusToken string `json:"-"`
}

// Answer is a peer's answer to an offer we sent, as federation received it.
type Answer struct {
	// OfferID is the id of our Offer the answer is about.
	OfferID string
	// AnswerID is the id of the Accept or Reject activity: answers are
	// recorded once per id.
	AnswerID string
	// Actor is who answered; it must be the peer the offer went to.
	Actor  string
	Reason string
	// Taker is the coop that took the work on, when the peer passed the
	// request on and a coop further down accepted; empty otherwise.
	Taker Peer
}

// Forwarded is a peer's notice that it passed our offer on to another coop.
type Forwarded struct {
	OfferID string
	Actor   string
	To      Peer
}

// Incoming is a referral arriving from a peer, as federation received it.
type Incoming struct {
	// To is the local coop the Offer is addressed to.
	To Local
	// OfferID is the Offer activity's id.
	OfferID string
	// From is the actor that sent the Offer (its HTTP signature verified by
	// federation): it must be the last coop that passed the envelope on.
	From     Peer
	Envelope Envelope
}
