package referrals

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coopnet/coopnet/internal/db"
)

// What peers do: answer our offers, pass them on, send us referrals and
// withdraw them. Federation calls these with what it verified (the actor of
// each activity); each is idempotent for a resent activity.

// RecordAccepted records a peer's Accept of an offer we sent. The first
// accept wins: the other open offers are withdrawn (Change.Withdrawn), and
// when the request came to us from a peer, its offer is accepted in turn on
// behalf of the taker (Change.Answered). An answer id recorded before changes
// nothing; an accept of an offer no longer open is ErrInvalidTransition.
func (s *Store) RecordAccepted(ctx context.Context, ans Answer) (Change, error) {
	ans, err := checkAnswer(ans)
	if err != nil {
		return Change{}, err
	}
	return s.onOffer(ctx, Sent, ans.OfferID, func(a *aggregate) error { return a.recordAccepted(ans) })
}

// RecordRejected records a peer's Reject of an offer we sent, with its
// reason. With no offer left open, the coop decides again (take, decline,
// refer to others, close).
func (s *Store) RecordRejected(ctx context.Context, ans Answer) (Change, error) {
	ans, err := checkAnswer(ans)
	if err != nil {
		return Change{}, err
	}
	return s.onOffer(ctx, Sent, ans.OfferID, func(a *aggregate) error { return a.recordRejected(ans) })
}

// RecordForwarded records a peer's notice that it passed our offer on, so
// that the trail shows where the request went. When the request came to us
// from a peer, federation passes the notice on to Request.FromActor.
func (s *Store) RecordForwarded(ctx context.Context, n Forwarded) (Change, error) {
	n.To.Name = cleanPeerText(n.To.Name, maxName)
	return s.onOffer(ctx, Sent, n.OfferID, func(a *aggregate) error { return a.recordForwarded(n) })
}

// RecordWithdrawn records that the peer that referred a request here
// withdrew its offer: the request is withdrawn, and so are the offers we made
// of it (Change.Withdrawn). Too late once we accepted (ErrInvalidTransition).
func (s *Store) RecordWithdrawn(ctx context.Context, offerID, actor string) (Change, error) {
	return s.onOffer(ctx, Received, offerID, func(a *aggregate) error { return a.peerWithdrew(offerID, actor) })
}

func (s *Store) onOffer(ctx context.Context, dir Direction, offerID string, move func(a *aggregate) error) (Change, error) {
	ref, err := s.ReferralByOfferID(ctx, dir, offerID)
	if err != nil {
		return Change{}, err
	}
	return s.change(ctx, ref.CoopID, ref.RequestID, move)
}

func checkAnswer(ans Answer) (Answer, error) {
	if ans.OfferID == "" || ans.AnswerID == "" || ans.Actor == "" {
		return Answer{}, fmt.Errorf("%w: an answer needs an offer id, its own id and an actor", ErrInvalid)
	}
	ans.Reason = cleanPeerText(ans.Reason, maxReason)
	ans.Taker.Name = cleanPeerText(ans.Taker.Name, maxName)
	return ans, nil
}

// ReceiveReferral records a referral a peer sent to a coop here: it opens the
// envelope (Keys.Open: every check and error listed there), checks that the
// sender is the coop that last passed it on (ErrTampered), and creates a
// request at the next hop with its chain, in state new, with a received
// Referral in state offered. The same offer received again returns the
// request it made; its id reused for other content is ErrReplay; a request
// the coop already holds (arriving by another path) is ErrLoop.
func (s *Store) ReceiveReferral(ctx context.Context, in Incoming, r KeyResolver) (Change, error) {
	if in.OfferID == "" || in.From.ActorID == "" || in.To.ActorID == "" {
		return Change{}, fmt.Errorf("%w: an offer needs an id, a sender and a recipient", ErrInvalid)
	}
	digest := in.Envelope.Digest()
	if c, ok, err := s.existingOffer(ctx, in, digest); ok || err != nil {
		return c, err
	}
	o, err := s.keys.Open(ctx, in.To, in.Envelope, r)
	if err != nil {
		return Change{}, err
	}
	if o.From != in.From.ActorID {
		return Change{}, fmt.Errorf("%w: offer %s comes from %s, but %s passed the request on", ErrTampered, in.OfferID, in.From.ActorID, o.From)
	}
	c, err := s.insertReceived(ctx, in, o, digest)
	if db.IsUniqueViolation(err) {
		// A concurrent delivery of the same offer, or the request by another path.
		if c, ok, err := s.existingOffer(ctx, in, digest); ok || err != nil {
			return c, err
		}
		return Change{}, fmt.Errorf("%w: coop %d already holds request %s", ErrLoop, in.To.CoopID, o.Payload.PublicID)
	}
	return c, err
}

// existingOffer finds an offer received before: the same content returns its
// request, other content under the same id is a replay.
func (s *Store) existingOffer(ctx context.Context, in Incoming, digest string) (Change, bool, error) {
	var requestID, coopID int64
	var known string
	err := s.db.QueryRow(ctx, `SELECT request_id, coop_id, envelope_digest FROM referrals
		WHERE direction = 'received' AND offer_id = $1`, in.OfferID).Scan(&requestID, &coopID, &known)
	if errors.Is(err, sql.ErrNoRows) {
		return Change{}, false, nil
	}
	if err != nil {
		return Change{}, false, fmt.Errorf("referrals: read offer %s: %w", in.OfferID, err)
	}
	if coopID != in.To.CoopID || known != digest {
		return Change{}, false, fmt.Errorf("%w: offer %s was received before with other content", ErrReplay, in.OfferID)
	}
	req, err := s.RequestByID(ctx, coopID, requestID)
	return Change{Request: req}, err == nil, err
}

func (s *Store) insertReceived(ctx context.Context, in Incoming, o Opened, digest string) (Change, error) {
	now := db.Now()
	p := o.Payload
	from := Peer{ActorID: in.From.ActorID, Name: cleanPeerText(in.From.Name, maxName)}
	req := Request{CoopID: in.To.CoopID, PublicID: p.PublicID, Details: p.Details, OriginActor: p.Origin,
		Hop: o.Hop, HopLimit: p.HopLimit, Chain: o.Chain, FromActor: from.ActorID, FromName: from.Name,
		OfferID: in.OfferID, State: StateNew, CreatedAt: now, UpdatedAt: now, ExpiresAt: p.Expires.UTC()}
	ref := Referral{CoopID: in.To.CoopID, Peer: from, Direction: Received, State: OfferOffered,
		OfferID: in.OfferID, CreatedAt: now, UpdatedAt: now}
	forwards, err := json.Marshal(nonNil(in.Envelope.Forwards))
	if err != nil {
		return Change{}, fmt.Errorf("referrals: encode forwards: %w", err)
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertRequest(ctx, tx, &req, "", in.Envelope.Payload, string(forwards)); err != nil {
			return err
		}
		if err := insertContact(ctx, tx, req.ID, o.contactJWE, now); err != nil {
			return err
		}
		ref.RequestID = req.ID
		err := tx.QueryRowContext(ctx, `INSERT INTO referrals (request_id, coop_id, peer_actor, peer_name, direction,
			state, offer_id, envelope_digest, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
			RETURNING id`, ref.RequestID, ref.CoopID, from.ActorID, from.Name, ref.Direction, ref.State,
			ref.OfferID, digest, now).Scan(&ref.ID)
		if err != nil {
			return fmt.Errorf("referrals: add received offer %s: %w", in.OfferID, err)
		}
		events := []Event{{RequestID: req.ID, At: now, Kind: EventReceived, PeerActor: from.ActorID,
			Text: "Referred by " + label(from)}}
		if err := insertEvents(ctx, tx, events); err != nil {
			return err
		}
		return s.notify(ctx, tx, Change{Request: req, Events: events})
	})
	return Change{Request: req}, err
}
