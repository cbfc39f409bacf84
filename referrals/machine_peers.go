package referrals

import "fmt"

// Moves driven by peers (their answers and withdrawals) and the outcome.

// findOffer finds the referral for offerID in direction dir, whose peer must
// be actor: an answer from anyone else is refused as if the offer did not
// exist, so that nobody learns about offers made to others.
func (a *aggregate) findOffer(dir Direction, offerID, actor string) (int, error) {
	for i, r := range a.refs {
		if r.Direction == dir && r.OfferID == offerID && offerID != "" {
			if r.Peer.ActorID != actor {
				return -1, fmt.Errorf("%w: offer %s was not exchanged with %s", ErrNotFound, offerID, actor)
			}
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: offer %s", ErrNotFound, offerID)
}

// answered tells whether answer id was already recorded on referral i: a
// resent answer changes nothing.
func (a *aggregate) alreadyAnswered(i int, answerID string) bool {
	return answerID != "" && a.refs[i].AnswerID == answerID
}

// recordAccepted applies a peer's Accept. The first accept wins: every other
// open offer is withdrawn, and when this request came from a peer, its offer
// is accepted in turn, on behalf of the taker.
func (a *aggregate) recordAccepted(ans Answer) error {
	i, err := a.findOffer(Sent, ans.OfferID, ans.Actor)
	if err != nil || a.alreadyAnswered(i, ans.AnswerID) {
		return err
	}
	ref := a.refs[i]
	if ref.State != OfferOffered {
		return invalid("accept offer "+ans.OfferID, ref.State, "")
	}
	if a.req.State != StateReferred {
		return invalid("accept offer "+ans.OfferID, a.req.State, "")
	}
	taker := ans.Taker
	text := label(ref.Peer) + " accepted and will contact you"
	if taker.ActorID != "" && taker.ActorID != ref.Peer.ActorID {
		text = label(taker) + " accepted (through " + label(ref.Peer) + ") and will contact you"
	} else {
		taker = ref.Peer
	}
	a.setRef(i, OfferAccepted, "")
	a.refs[i].AnswerID = ans.AnswerID
	if taker.ActorID != ref.Peer.ActorID {
		a.refs[i].Taker = taker
	}
	a.req.TakerActor, a.req.TakerName = taker.ActorID, taker.Name
	a.setState(StateAccepted)
	a.event(EventAccepted, ref.Peer.ActorID, text, "", true)
	a.withdrawOpen(label(taker) + " accepted first")
	a.answerUpstream(OfferAccepted, "", taker)
	return nil
}

// recordRejected applies a peer's Reject. The request stays referred; with no
// offer left open, the coop decides what to do next.
func (a *aggregate) recordRejected(ans Answer) error {
	i, err := a.findOffer(Sent, ans.OfferID, ans.Actor)
	if err != nil || a.alreadyAnswered(i, ans.AnswerID) {
		return err
	}
	ref := a.refs[i]
	if ref.State != OfferOffered {
		return invalid("reject offer "+ans.OfferID, ref.State, "")
	}
	a.setRef(i, OfferRejected, ans.Reason)
	a.refs[i].AnswerID = ans.AnswerID
	a.event(EventRejected, ref.Peer.ActorID, label(ref.Peer)+" could not take it", ans.Reason, true)
	return nil
}

// recordForwarded notes that the peer passed our offer on: the origin sees
// the whole trail.
func (a *aggregate) recordForwarded(n Forwarded) error {
	i, err := a.findOffer(Sent, n.OfferID, n.Actor)
	if err != nil {
		return err
	}
	ref := a.refs[i]
	if ref.State != OfferOffered {
		return invalid("record a forward of offer "+n.OfferID, ref.State, "")
	}
	a.event(EventForwarded, ref.Peer.ActorID, label(ref.Peer)+" passed it on to "+label(n.To), "", true)
	a.changed = true
	return nil
}

// peerWithdrew applies the sender's withdrawal of the offer that brought the
// request here: the request is withdrawn, and so are the offers this coop
// made of it. Once accepted, an offer can no longer be withdrawn.
func (a *aggregate) peerWithdrew(offerID, actor string) error {
	i, err := a.findOffer(Received, offerID, actor)
	if err != nil {
		return err
	}
	ref := a.refs[i]
	switch {
	case ref.State == OfferWithdrawn:
		return nil
	case ref.State != OfferOffered:
		return invalid("withdraw offer "+offerID, ref.State, "")
	case a.req.State != StateNew && a.req.State != StateReferred:
		return invalid("withdraw offer "+offerID, a.req.State, "")
	}
	a.setRef(i, OfferWithdrawn, "")
	a.setState(StateWithdrawn)
	a.event(EventPeerWithdrew, ref.Peer.ActorID, label(ref.Peer)+" withdrew the referral", "", false)
	a.withdrawOpen(label(ref.Peer) + " withdrew the referral")
	return nil
}

// markOutcome records what became of the work. A taken request closes with a
// final outcome (completed, lost) and reopens when set back to in progress;
// an accepted one closed when the peer accepted.
func (a *aggregate) markOutcome(o Outcome) error {
	if err := CheckOutcome(a.req, o); err != nil {
		return err
	}
	if a.req.Outcome == o {
		return nil
	}
	a.req.Outcome = o
	a.changed = true
	if a.req.State == StateTaken {
		if o == OutcomeInProgress {
			a.req.ClosedAt = nil
		} else {
			a.close()
		}
	}
	a.event(EventOutcome, "", outcomeText[o], "", true)
	return nil
}

var outcomeText = map[Outcome]string{
	OutcomeInProgress: "Work is in progress",
	OutcomeCompleted:  "Work completed",
	OutcomeLost:       "Closed: the work did not go ahead",
}

// label is the name shown for a peer: its name, or its actor id.
func label(p Peer) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ActorID
}
