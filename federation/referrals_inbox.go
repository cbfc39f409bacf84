package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-fed/activity/pub"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/referrals"
)

// Referral activities in the inbox. An Offer carrying coopnet:referral, an
// Accept or Reject of one of our Offers, an Undo of an Offer we received and
// an Add to one of our Offers (the notice that the peer passed it on) go to
// the referrals store. They are kept out of the inbox's group commit
// (inbox_batch.go): the store runs its own transaction, and opening an
// envelope may fetch a peer's keys. The activity is recorded as seen in the
// store's transaction (claimInboxActivity, through the change hook), so it
// is applied once; a move that changes nothing is recorded on its own.
//
// Errors the store calls final are logged with the peer and the reason
// (never the contact details, which its errors do not carry) and answered
// 202; a refused Offer gets a Reject with a machine reason. Other errors (the
// database, a key set that could not be fetched) answer 500, and the sender
// tries again.

// applyReferralOr runs a referral activity, or else effect (a Follow's
// answer or Undo), or ignores it when effect is nil.
func (p *goFedProtocol) applyReferralOr(ctx context.Context, a pub.Activity, effect inboxEffect) error {
	st := inboxStateFrom(ctx)
	if st == nil {
		return errors.New("federation: go-fed callback outside an inbox request")
	}
	in := translate(a, st)
	if p.f.refs != nil {
		ok, err := p.f.isReferralActivity(ctx, in)
		if err != nil {
			return fmt.Errorf("%w: %w", errStore, err)
		}
		if ok {
			if err := p.f.receiveReferralActivity(ctx, in); err != nil {
				return fmt.Errorf("%w: %w", errStore, err)
			}
			st.recorded = true
			return nil
		}
	}
	if effect == nil {
		return p.ignore(ctx, a)
	}
	return p.apply(ctx, a, effect)
}

// referralDoc is what the inbox reads of a referral activity beyond its
// envelope (inbox.go).
type referralDoc struct {
	To      json.RawMessage `json:"to"`
	Content jsonString      `json:"content"`
	Refusal jsonString      `json:"coopnet:refusal"`
	Taker   json.RawMessage `json:"coopnet:acceptedBy"`
	Target  json.RawMessage `json:"target"`
	Object  json.RawMessage `json:"object"`
}

func parseReferralDoc(body []byte) referralDoc {
	var doc referralDoc
	_ = json.Unmarshal(body, &doc) // the inbox decoded it already
	return doc
}

// idsOf reads an addressing property: one IRI or object, or an array.
func idsOf(raw json.RawMessage) []string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var out []string
	for _, e := range list {
		if id := idOf(e); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// peerOf reads an actor given as an IRI or an object with an id and a name.
func peerOf(raw json.RawMessage) referrals.Peer {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return referrals.Peer{}
	}
	p := referrals.Peer{ActorID: idOf(v)}
	if m, ok := v.(map[string]any); ok {
		p.Name, _ = m["name"].(string)
	}
	if hostOf(p.ActorID) == "" {
		return referrals.Peer{}
	}
	return p
}

// objectTypes reads the type of an embedded object, if any.
func objectTypes(raw json.RawMessage) (id string, types jsonStrings) {
	ref := envelopeObject(raw)
	return ref.ID, ref.Types
}

// isReferralActivity tells whether an activity is for the referrals store:
// by the type of the object it embeds, or else by the offer id it names.
func (f *Federation) isReferralActivity(ctx context.Context, in incoming) (bool, error) {
	switch in.Type {
	case "Offer":
		var doc struct {
			Object struct {
				Referral json.RawMessage `json:"coopnet:referral"`
			} `json:"object"`
		}
		_ = json.Unmarshal(in.Body, &doc)
		return len(doc.Object.Referral) > 0, nil
	case "Accept", "Reject":
		return f.namesOffer(ctx, referrals.Sent, in.Object.ID, in.Object.Embedded, in.Object.Types)
	case "Undo":
		return f.namesOffer(ctx, referrals.Received, in.Object.ID, in.Object.Embedded, in.Object.Types)
	case "Add":
		id, types := objectTypes(parseReferralDoc(in.Body).Target)
		return f.namesOffer(ctx, referrals.Sent, id, len(types) > 0, types)
	}
	return false, nil
}

// namesOffer tells whether an activity's object is one of the offers we
// sent (or received): an embedded Offer is; any other embedded object is
// not; an id is looked up.
func (f *Federation) namesOffer(ctx context.Context, dir referrals.Direction, id string, embedded bool, types []string) (bool, error) {
	if embedded && len(types) > 0 {
		return jsonStrings(types).hasAny("Offer"), nil
	}
	// Our own offers have ids of ours (URLs.ReferralOffer): a Follow's
	// answer is told apart without a lookup.
	if id == "" || (dir == referrals.Sent && (!sameOrigin(id, f.urls.Base.String()) || !strings.Contains(id, "/referrals/"))) {
		return false, nil
	}
	_, err := f.refs.store.ReferralByOfferID(ctx, dir, id)
	if errors.Is(err, referrals.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// receiveReferralActivity applies a referral activity once. A nil error
// means applied, a duplicate, or refused for good; any other error is
// worth the sender's retry.
func (f *Federation) receiveReferralActivity(ctx context.Context, in incoming) error {
	ctx = context.WithoutCancel(ctx) // the store's transaction is not abandoned halfway
	var one int
	err := f.db.QueryRow(ctx, `SELECT 1 FROM inbox_seen WHERE activity_id = $1`, in.ID).Scan(&one)
	if err == nil {
		return nil // applied before
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("federation: read inbox_seen: %w", err)
	}
	claim := &inboxClaim{id: in.ID, actor: in.Actor.ID}
	ctx = withInboxClaim(ctx, claim)
	doc := parseReferralDoc(in.Body)
	var reply func(context.Context, *sql.Tx) error
	switch in.Type {
	case "Offer":
		reply, err = f.receiveOffer(ctx, in, doc)
	case "Accept", "Reject":
		reply, err = f.receiveAnswer(ctx, in, doc)
	case "Undo":
		_, err = f.refs.store.RecordWithdrawn(ctx, in.Object.ID, in.Actor.ID)
	case "Add":
		err = f.receiveForwarded(ctx, in, doc)
	}
	if errors.Is(err, errSeenBefore) {
		return nil // another copy was applied meanwhile
	}
	if err != nil {
		claim.tx = nil // whatever the hook recorded was rolled back
		code, final := refusalCode(err)
		if !final {
			return err
		}
		f.log.InfoContext(ctx, "referral activity refused", "peer", in.Actor.ID, "type", in.Type,
			"activity", in.ID, "reason", code, "error", err)
	}
	if claim.tx != nil && reply == nil {
		return nil // recorded with the change
	}
	// Nothing changed (a resent answer), or refused: record the activity as
	// seen, with the reply if there is one.
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO inbox_seen (activity_id, actor_id, received_at) VALUES ($1, $2, $3)
			ON CONFLICT (activity_id) DO NOTHING`, in.ID, in.Actor.ID, db.Now())
		if err != nil {
			return fmt.Errorf("federation: record activity: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 || reply == nil {
			return nil
		}
		return reply(ctx, tx)
	})
}

// receiveOffer hands a referral to the store, for the coop of ours it is
// addressed to. A refused one is answered with a Reject naming the reason,
// except a replayed offer id: that Reject would name an offer the coop
// holds, received before with other content.
func (f *Federation) receiveOffer(ctx context.Context, in incoming, doc referralDoc) (func(context.Context, *sql.Tx) error, error) {
	var to referrals.Local
	for _, id := range idsOf(doc.To) {
		coop, ok, err := f.localCoop(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			to = referrals.Local{CoopID: coop.ID, ActorID: f.urls.Actor(coop.Slug)}
			break
		}
	}
	if to.ActorID == "" {
		f.log.InfoContext(ctx, "referral for no coop of ours ignored", "peer", in.Actor.ID, "activity", in.ID)
		return nil, nil
	}
	var body struct {
		Object struct {
			Referral referrals.Envelope `json:"coopnet:referral"`
		} `json:"object"`
	}
	err := json.Unmarshal(in.Body, &body)
	if err != nil {
		err = fmt.Errorf("%w: the envelope does not decode: %v", referrals.ErrInvalid, err)
	} else {
		var ch referrals.Change
		ch, err = f.refs.store.ReceiveReferral(ctx, referrals.Incoming{To: to, OfferID: in.ID,
			From: referrals.Peer{ActorID: in.Actor.ID, Name: in.Actor.Name}, Envelope: body.Object.Referral}, f.refs.resolver)
		if err == nil {
			f.log.InfoContext(ctx, "referral received", "peer", in.Actor.ID, "request", ch.Request.PublicID,
				"coop", to.ActorID, "hop", ch.Request.Hop)
			return nil, nil
		}
	}
	code, final := refusalCode(err)
	if !final || code == "replayed" {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		coop, err := coopOfTx(ctx, tx, to.CoopID)
		if err != nil {
			return err
		}
		act := f.refusalActivity(coop, in.ID, in.Actor.ID, code)
		return f.sendReferralTx(ctx, tx, coop, act, in.ID, in.Actor.ID)
	}, err
}

// receiveAnswer records a peer's Accept or Reject of an offer we sent. An
// Accept that comes after we withdrew the offer (or another peer won) is
// answered with the Undo again: the peer learns it lost the race.
func (f *Federation) receiveAnswer(ctx context.Context, in incoming, doc referralDoc) (func(context.Context, *sql.Tx) error, error) {
	ans := referrals.Answer{OfferID: in.Object.ID, AnswerID: in.ID, Actor: in.Actor.ID}
	var err error
	if in.Type == "Accept" {
		ans.Taker = peerOf(doc.Taker)
		_, err = f.refs.store.RecordAccepted(ctx, ans)
	} else {
		ans.Reason = htmlText(string(doc.Content))
		if code := strings.TrimSpace(string(doc.Refusal)); code != "" && !strings.Contains(ans.Reason, code) {
			ans.Reason = strings.TrimSpace(ans.Reason + " (" + code + ")")
		}
		_, err = f.refs.store.RecordRejected(ctx, ans)
	}
	if in.Type != "Accept" || !errors.Is(err, referrals.ErrInvalidTransition) {
		return nil, err
	}
	ref, rerr := f.refs.store.ReferralByOfferID(ctx, referrals.Sent, ans.OfferID)
	if rerr != nil || ref.Peer.ActorID != in.Actor.ID || ref.State != referrals.OfferWithdrawn {
		return nil, err
	}
	return func(ctx context.Context, tx *sql.Tx) error {
		coop, err := coopOfTx(ctx, tx, ref.CoopID)
		if err != nil {
			return err
		}
		act := f.withdrawActivity(coop, ans.OfferID, in.Actor.ID)
		return f.sendReferralTx(ctx, tx, coop, act, ans.OfferID, in.Actor.ID)
	}, err
}

// receiveForwarded records a peer's notice that it passed our offer on; the
// change hook relays it upstream when the request came to us from a peer.
func (f *Federation) receiveForwarded(ctx context.Context, in incoming, doc referralDoc) error {
	target, _ := objectTypes(doc.Target)
	n := referrals.Forwarded{OfferID: target, Actor: in.Actor.ID, To: peerOf(doc.Object)}
	if n.To.ActorID == "" {
		return fmt.Errorf("%w: the notice names no coop", referrals.ErrInvalid)
	}
	_, err := f.refs.store.RecordForwarded(withForwardNotice(ctx, n), n)
	return err
}
