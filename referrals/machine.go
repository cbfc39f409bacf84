package referrals

import (
	"fmt"
	"slices"
	"time"
)

// The state machine. Each move is a pure function over a request and its
// referrals: the Check functions tell whether a move is allowed (the web uses
// them to show only the buttons that work), and the aggregate methods apply
// it in memory; the store loads, applies and saves in one transaction.

// TransitionError is a move the request's state does not allow. It matches
// ErrInvalidTransition with errors.Is.
type TransitionError struct {
	Action string
	From   string
	Why    string
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("referrals: cannot %s: it is %s", e.Action, e.From)
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

func invalid(action string, from any, why string) error {
	return &TransitionError{Action: action, From: fmt.Sprint(from), Why: why}
}

// openOffers counts the offers this coop sent that await an answer.
func openOffers(refs []Referral) int {
	n := 0
	for _, r := range refs {
		if r.Direction == Sent && r.State == OfferOffered {
			n++
		}
	}
	return n
}

// decidable: a request can be taken, declined or closed when it is new, or
// referred with every offer answered or withdrawn.
func decidable(action string, r Request, refs []Referral) error {
	switch {
	case r.PurgedAt != nil:
		return invalid(action, r.State, "anonymised")
	case r.State == StateNew:
		return nil
	case r.State == StateReferred && openOffers(refs) == 0:
		return nil
	case r.State == StateReferred:
		return invalid(action, r.State, fmt.Sprintf("%d offers still open: withdraw them or wait for the answers", openOffers(refs)))
	}
	return invalid(action, r.State, "")
}

// CheckTake tells whether this coop can take the request on now.
func CheckTake(r Request, refs []Referral) error { return decidable("take the request", r, refs) }

// CheckDecline tells whether this coop can decline the request now.
func CheckDecline(r Request, refs []Referral) error {
	return decidable("decline the request", r, refs)
}

// CheckClose tells whether the request can be closed without a taker: only
// after offers went out and none is open any more.
func CheckClose(r Request, refs []Referral) error {
	if r.State == StateNew {
		return invalid("close the request without taker", r.State, "refer it first, or decline it")
	}
	return decidable("close the request without taker", r, refs)
}

// CheckRefer tells whether the request can be referred to the peer with actor
// id to at time now.
func CheckRefer(r Request, refs []Referral, to string, now time.Time) error {
	const action = "refer the request"
	if r.State != StateNew && r.State != StateReferred {
		return invalid(action, r.State, "")
	}
	// The client's consent is what lets a request leave the coop it was
	// sent to, at the origin as further down the chain.
	if !r.ConsentToShare {
		return fmt.Errorf("%w: the client of request %s did not agree to it being passed to other cooperatives", ErrNoConsent, r.PublicID)
	}
	if r.Hop >= r.HopLimit {
		return fmt.Errorf("%w: request %s is at hop %d of %d", ErrHopLimit, r.PublicID, r.Hop, r.HopLimit)
	}
	if !r.ExpiresAt.IsZero() && now.After(r.ExpiresAt) {
		return fmt.Errorf("%w: request %s expired at %s", ErrExpired, r.PublicID, r.ExpiresAt.Format(time.RFC3339))
	}
	if slices.Contains(r.Chain, to) {
		return fmt.Errorf("%w: %s is already in the chain of request %s", ErrLoop, to, r.PublicID)
	}
	for _, ref := range refs {
		if ref.Direction == Sent && ref.Peer.ActorID == to {
			return fmt.Errorf("%w: request %s was already offered to %s", ErrLoop, r.PublicID, to)
		}
	}
	return nil
}

// CheckWithdrawOffer tells whether an offer this coop sent can be withdrawn:
// only while the peer has not answered.
func CheckWithdrawOffer(ref Referral) error {
	if ref.Direction != Sent {
		return invalid("withdraw a referral", "received", "only the sender withdraws an offer; reject it instead")
	}
	if ref.State != OfferOffered {
		return invalid("withdraw the offer", ref.State, "")
	}
	return nil
}

// CheckWithdrawRequest tells whether the client can still withdraw the
// request: until a coop takes it on.
func CheckWithdrawRequest(r Request) error {
	if r.Received() {
		return invalid("withdraw the request", "a referral from "+r.FromActor, "only the client withdraws, at the origin")
	}
	if r.State != StateNew && r.State != StateReferred {
		return invalid("withdraw the request", r.State, "")
	}
	return nil
}

// CheckOutcome tells whether outcome o can be marked on the request.
func CheckOutcome(r Request, o Outcome) error {
	switch o {
	case OutcomeInProgress, OutcomeCompleted, OutcomeLost:
	default:
		return fmt.Errorf("%w: unknown outcome %q", ErrInvalidTransition, o)
	}
	if r.State != StateTaken && r.State != StateAccepted {
		return invalid("mark an outcome", r.State, "only taken or accepted requests have an outcome")
	}
	if r.PurgedAt != nil {
		return invalid("mark an outcome", r.State, "anonymised")
	}
	return nil
}

// aggregate is a request with its referrals while a move is applied: what
// changed is marked so that the store writes only that.
type aggregate struct {
	req       Request
	refs      []Referral
	events    []Event
	now       time.Time
	withdrawn []int // indexes into refs
	offered   []int
	answered  int // index into refs, -1 when none
	changed   bool
}

func newAggregate(req Request, refs []Referral, now time.Time) *aggregate {
	return &aggregate{req: req, refs: refs, now: now, answered: -1}
}

func (a *aggregate) change() Change {
	c := Change{Request: a.req, Events: a.events}
	for _, i := range a.offered {
		c.Offered = append(c.Offered, a.refs[i])
	}
	for _, i := range a.withdrawn {
		c.Withdrawn = append(c.Withdrawn, a.refs[i])
	}
	if a.answered >= 0 {
		ref := a.refs[a.answered]
		c.Answered = &ref
	}
	return c
}

func (a *aggregate) setState(s State) {
	a.req.State = s
	a.changed = true
	switch s {
	case StateDeclined, StateAccepted, StateUnplaced, StateWithdrawn:
		a.close()
	}
}

func (a *aggregate) close() {
	now := a.now
	a.req.ClosedAt = &now
	a.changed = true
}

func (a *aggregate) event(kind EventKind, peer, text, detail string, client bool) {
	a.events = append(a.events, Event{RequestID: a.req.ID, At: a.now, Kind: kind, PeerActor: peer,
		Text: text, Detail: detail, ClientVisible: client})
}

func (a *aggregate) setRef(i int, s OfferState, reason string) {
	now := a.now
	a.refs[i].State = s
	a.refs[i].Reason = reason
	a.refs[i].UpdatedAt = now
	if s == OfferAccepted || s == OfferRejected {
		a.refs[i].AnsweredAt = &now
	}
	a.refs[i].dirty = true
}

// upstream is the index of the referral that brought the request here.
func (a *aggregate) upstream() int {
	for i, r := range a.refs {
		if r.Direction == Received {
			return i
		}
	}
	return -1
}

// answerUpstream answers the offer that brought a received request here.
func (a *aggregate) answerUpstream(s OfferState, reason string, taker Peer) {
	i := a.upstream()
	if i < 0 || a.refs[i].State != OfferOffered {
		return
	}
	a.setRef(i, s, reason)
	a.refs[i].Taker = taker
	a.answered = i
}

// withdrawOpen withdraws every open offer this coop sent, saying why.
func (a *aggregate) withdrawOpen(why string) {
	for i, r := range a.refs {
		if r.Direction == Sent && r.State == OfferOffered {
			a.setRef(i, OfferWithdrawn, why)
			a.withdrawn = append(a.withdrawn, i)
			a.event(EventOfferWithdrawn, r.Peer.ActorID, "Offer to "+label(r.Peer)+" withdrawn", why, false)
		}
	}
}

func (a *aggregate) take() error {
	if err := CheckTake(a.req, a.refs); err != nil {
		return err
	}
	a.setState(StateTaken)
	a.event(EventTaken, "", "The coop took this on and will contact you", "", true)
	a.answerUpstream(OfferAccepted, "", Peer{})
	return nil
}

func (a *aggregate) decline(reason string) error {
	if err := CheckDecline(a.req, a.refs); err != nil {
		return err
	}
	a.setState(StateDeclined)
	a.event(EventDeclined, "", "Declined: "+reason, "", true)
	a.answerUpstream(OfferRejected, reason, Peer{})
	return nil
}

func (a *aggregate) closeUnplaced(reason string) error {
	if err := CheckClose(a.req, a.refs); err != nil {
		return err
	}
	a.setState(StateUnplaced)
	text := "No coop could take this request"
	if reason != "" {
		text += ": " + reason
	}
	a.event(EventUnplaced, "", text, "", true)
	if reason == "" {
		reason = "no coop could take it"
	}
	a.answerUpstream(OfferRejected, reason, Peer{})
	return nil
}

func (a *aggregate) refer(peers []Peer) error {
	for _, p := range peers {
		if err := CheckRefer(a.req, a.refs, p.ActorID, a.now); err != nil {
			return err
		}
		a.refs = append(a.refs, Referral{RequestID: a.req.ID, CoopID: a.req.CoopID, Peer: p, Direction: Sent,
			State: OfferOffered, CreatedAt: a.now, UpdatedAt: a.now})
		a.offered = append(a.offered, len(a.refs)-1)
		a.event(EventSent, p.ActorID, "Sent to "+label(p), "", true)
	}
	if a.req.State != StateReferred {
		a.setState(StateReferred)
	}
	return nil
}

func (a *aggregate) withdrawOffer(refID int64) error {
	i := a.find(refID)
	if i < 0 {
		return fmt.Errorf("%w: referral %d of request %d", ErrNotFound, refID, a.req.ID)
	}
	if err := CheckWithdrawOffer(a.refs[i]); err != nil {
		return err
	}
	a.setRef(i, OfferWithdrawn, "")
	a.withdrawn = append(a.withdrawn, i)
	a.event(EventOfferWithdrawn, a.refs[i].Peer.ActorID, "Offer to "+label(a.refs[i].Peer)+" withdrawn", "", false)
	return nil
}

// undelivered records that the Offer of sent referral refID could not be
// delivered. Only once, and only while the referral is offered: an Offer
// given up after its withdrawal, or a second report of the same failure,
// changes nothing.
func (a *aggregate) undelivered(refID int64, reason string) error {
	i := a.find(refID)
	if i < 0 {
		return fmt.Errorf("%w: referral %d of request %d", ErrNotFound, refID, a.req.ID)
	}
	ref := &a.refs[i]
	if ref.Direction != Sent || ref.State != OfferOffered || ref.UndeliveredAt != nil {
		return nil
	}
	now := a.now
	ref.UndeliveredAt, ref.UndeliveredReason, ref.UpdatedAt, ref.dirty = &now, cleanPeerText(reason, maxReason), now, true
	a.event(EventUndelivered, ref.Peer.ActorID, "Referral to "+label(ref.Peer)+" not delivered", ref.UndeliveredReason, false)
	return nil
}

// replyUndelivered records that our reply about referral offerID did not
// reach the peer: an answer to a referral received, or the withdrawal of one
// sent. A referral in another state had no such reply to lose.
func (a *aggregate) replyUndelivered(offerID, reason string) error {
	for _, ref := range a.refs {
		if ref.OfferID != offerID {
			continue
		}
		kind, text := EventAnswerUndelivered, ""
		switch {
		case ref.Direction == Received && ref.State == OfferAccepted:
			text = "Our acceptance did not reach " + label(ref.Peer)
		case ref.Direction == Received && ref.State == OfferRejected:
			text = "Our refusal did not reach " + label(ref.Peer)
		case ref.Direction == Sent && ref.State == OfferWithdrawn:
			kind, text = EventWithdrawalUndelivered, "Our withdrawal did not reach "+label(ref.Peer)
		default:
			return nil
		}
		a.event(kind, ref.Peer.ActorID, text, cleanPeerText(reason, maxReason), false)
		return nil
	}
	return fmt.Errorf("%w: referral %s of request %d", ErrNotFound, offerID, a.req.ID)
}

func (a *aggregate) withdrawRequest() error {
	if err := CheckWithdrawRequest(a.req); err != nil {
		return err
	}
	a.setState(StateWithdrawn)
	a.event(EventClientWithdrew, "", "You withdrew this request", "", true)
	a.withdrawOpen("the client withdrew the request")
	return nil
}

func (a *aggregate) find(refID int64) int {
	for i, r := range a.refs {
		if r.ID == refID {
			return i
		}
	}
	return -1
}
