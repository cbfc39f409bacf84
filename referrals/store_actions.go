package referrals

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// The moves a coop's members make. Each is one transaction and returns the
// Change, whose Offered, Withdrawn and Answered tell federation what to send.

// Take records that the coop takes the request on. On a request a peer
// referred here it also accepts the peer's offer (Change.Answered).
func (s *Store) Take(ctx context.Context, coopID, requestID int64) (Change, error) {
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.take() })
}

// Decline records that the coop declines the request; the reason is shown to
// the client (at the origin) or sent with the Reject (to the peer that
// referred it here).
func (s *Store) Decline(ctx context.Context, coopID, requestID int64, reason string) (Change, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.decline(reason) })
}

// AcceptReceived accepts the offer that brought a request here: Take, for a
// request from a peer only.
func (s *Store) AcceptReceived(ctx context.Context, coopID, requestID int64) (Change, error) {
	return s.change(ctx, coopID, requestID, func(a *aggregate) error {
		if !a.req.Received() {
			return invalid("accept a referral", "a request from a client", "take it instead")
		}
		return a.take()
	})
}

// RejectReceived rejects the offer that brought a request here, with a reason
// for the peer: Decline, for a request from a peer only.
func (s *Store) RejectReceived(ctx context.Context, coopID, requestID int64, reason string) (Change, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error {
		if !a.req.Received() {
			return invalid("reject a referral", "a request from a client", "decline it instead")
		}
		return a.decline(reason)
	})
}

// Close closes a referred request no peer took (every offer answered or
// withdrawn); the reason is optional.
func (s *Store) Close(ctx context.Context, coopID, requestID int64, reason string) (Change, error) {
	reason, err := checkReason(reason, false)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.closeUnplaced(reason) })
}

// Refer offers the request to peers: one Referral per peer, in state offered,
// in Change.Offered. A request a peer referred here may be referred on only
// with the client's consent (ErrNoConsent) and below its hop limit
// (ErrHopLimit), never to a coop it went through or was offered to before
// (ErrLoop), and not after it expired (ErrExpired).
func (s *Store) Refer(ctx context.Context, coopID, requestID int64, peers []Peer) (Change, error) {
	peers, err := checkPeers(peers)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.refer(peers) })
}

// Withdraw withdraws an offer the coop sent, while the peer has not answered.
func (s *Store) Withdraw(ctx context.Context, coopID, referralID int64) (Change, error) {
	var requestID int64
	err := s.db.QueryRow(ctx, `SELECT request_id FROM referrals WHERE id = $1 AND coop_id = $2`,
		referralID, coopID).Scan(&requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return Change{}, fmt.Errorf("%w: referral %d", ErrNotFound, referralID)
	}
	if err != nil {
		return Change{}, fmt.Errorf("referrals: read referral %d: %w", referralID, err)
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.withdrawOffer(referralID) })
}

// MarkUndelivered records that the Offer of a sent referral could not be
// delivered, for reason (shown to the coop's members, and e-mailed to them).
// It changes nothing when the referral is no longer offered or was marked
// already, so that federation may report the same failure twice.
func (s *Store) MarkUndelivered(ctx context.Context, referralID int64, reason string) (Change, error) {
	var coopID, requestID int64
	err := s.db.QueryRow(ctx, `SELECT coop_id, request_id FROM referrals WHERE id = $1 AND direction = $2`,
		referralID, Sent).Scan(&coopID, &requestID)
	if errors.Is(err, sql.ErrNoRows) {
		return Change{}, fmt.Errorf("%w: sent referral %d", ErrNotFound, referralID)
	}
	if err != nil {
		return Change{}, fmt.Errorf("referrals: read referral %d: %w", referralID, err)
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.undelivered(referralID, reason) })
}

// MarkOfferUndelivered is MarkUndelivered for the referral sent as the
// Offer offerID. ErrNotFound means no sent referral has that Offer: the
// activity was something else.
func (s *Store) MarkOfferUndelivered(ctx context.Context, offerID, reason string) (Change, error) {
	ref, err := s.ReferralByOfferID(ctx, Sent, offerID)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, ref.CoopID, ref.RequestID, func(a *aggregate) error { return a.undelivered(ref.ID, reason) })
}

// MarkReplyUndelivered records that the coop's reply about the referral
// exchanged as Offer offerID did not reach the peer: its answer (Accept or
// Reject) to a referral it received, or its withdrawal (Undo) of one it
// sent. It adds a members-only event to the request's trail, with an
// e-mail, so that they tell the peer another way; once for each referral.
// ErrNotFound means the coop exchanged no such referral (a refusal of an
// Offer it never took in, say).
func (s *Store) MarkReplyUndelivered(ctx context.Context, coopID int64, offerID, reason string) (Change, error) {
	var requestID int64
	var told bool
	err := s.db.QueryRow(ctx, `SELECT r.request_id, EXISTS (SELECT 1 FROM referral_events e
			WHERE e.request_id = r.request_id AND e.kind IN ($3, $4) AND e.peer_actor = r.peer_actor)
		FROM referrals r WHERE r.coop_id = $1 AND r.offer_id = $2`,
		coopID, offerID, EventAnswerUndelivered, EventWithdrawalUndelivered).Scan(&requestID, &told)
	if errors.Is(err, sql.ErrNoRows) {
		return Change{}, fmt.Errorf("%w: referral %s", ErrNotFound, offerID)
	}
	if err != nil {
		return Change{}, fmt.Errorf("referrals: read referral %s: %w", offerID, err)
	}
	if told {
		return Change{}, nil
	}
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.replyUndelivered(offerID, reason) })
}

// WithdrawRequest is the client withdrawing the request from its status
// page, until a coop takes it on; open offers are withdrawn with it.
func (s *Store) WithdrawRequest(ctx context.Context, statusToken string) (Change, error) {
	r, err := s.RequestByStatusToken(ctx, statusToken)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, r.CoopID, r.ID, func(a *aggregate) error { return a.withdrawRequest() })
}

// MarkOutcome records what became of a request the coop took on or placed
// with a peer.
func (s *Store) MarkOutcome(ctx context.Context, coopID, requestID int64, o Outcome) (Change, error) {
	return s.change(ctx, coopID, requestID, func(a *aggregate) error { return a.markOutcome(o) })
}

// EnvelopeFor makes the envelope of a sent referral, for federation to put
// in the Offer: sealed by this coop when the request came from a client here,
// passed on (Keys.Forward) when a peer referred it here. It resolves the
// peer's encryption key (and, to pass on, re-verifies the envelope) through r.
func (s *Store) EnvelopeFor(ctx context.Context, ref Referral, r KeyResolver) (Envelope, error) {
	if err := sendable(ref); err != nil {
		return Envelope{}, err
	}
	req, err := s.RequestByID(ctx, ref.CoopID, ref.RequestID)
	if err != nil {
		return Envelope{}, err
	}
	return s.EnvelopeForRequest(ctx, ref, req, r)
}

// EnvelopeForRequest is EnvelopeFor for a caller that has read the
// referral's request already (req: ref's, as RequestByID returns it).
func (s *Store) EnvelopeForRequest(ctx context.Context, ref Referral, req Request, r KeyResolver) (Envelope, error) {
	if err := sendable(ref); err != nil {
		return Envelope{}, err
	}
	if req.ID != ref.RequestID || req.CoopID != ref.CoopID {
		return Envelope{}, fmt.Errorf("%w: request %d is not that of referral %d", ErrNotFound, req.ID, ref.ID)
	}
	self := Local{CoopID: req.CoopID, ActorID: req.Chain[len(req.Chain)-1]}
	jwe, err := s.contactJWE(ctx, req.CoopID, req.ID)
	if err != nil {
		return Envelope{}, err
	}
	if req.Received() {
		env, err := s.receivedEnvelope(ctx, req, jwe)
		if err != nil {
			return Envelope{}, err
		}
		return s.keys.Forward(ctx, self, env, ref.Peer.ActorID, r)
	}
	c, _, err := s.keys.decryptContact(ctx, req.CoopID, jwe)
	if err != nil {
		return Envelope{}, fmt.Errorf("referrals: contact of request %d: %w", req.ID, err)
	}
	p := Payload{PublicID: req.PublicID, To: ref.Peer.ActorID, Details: req.Details, HopLimit: req.HopLimit,
		Created: req.CreatedAt, Expires: req.ExpiresAt}
	return s.keys.Seal(ctx, self, p, c, r)
}

// sendable refuses a referral that is not an open offer this coop made.
func sendable(ref Referral) error {
	if ref.Direction != Sent || ref.State != OfferOffered {
		return invalid("send referral", ref.State, "only open offers this coop made are sent")
	}
	return nil
}

// receivedEnvelope is the envelope a request arrived in; its contact JWE,
// encrypted to this coop's key, is the one kept at rest.
func (s *Store) receivedEnvelope(ctx context.Context, req Request, jwe string) (Envelope, error) {
	var payload, forwards string
	err := s.db.QueryRow(ctx, `SELECT envelope_payload, envelope_forwards FROM work_requests WHERE id = $1`,
		req.ID).Scan(&payload, &forwards)
	if err != nil {
		return Envelope{}, fmt.Errorf("referrals: envelope of request %d: %w", req.ID, err)
	}
	env := Envelope{Payload: payload, Contact: jwe}
	if err := json.Unmarshal([]byte(forwards), &env.Forwards); err != nil {
		return Envelope{}, fmt.Errorf("referrals: envelope of request %d: %w", req.ID, err)
	}
	return env, nil
}
