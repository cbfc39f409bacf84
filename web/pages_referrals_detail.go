package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/referrals"
)

// suggestLimit is how many peers the refer form offers.
const suggestLimit = 10

// referralPage is one request as its coop's members see it.
type referralPage struct {
	Title   string
	Coop    directory.Coop
	Request referrals.Request
	State   string
	Outcome string
	Source  string
	Summary requestSummary
	// Contact is nil once purged (ContactGone) or when it cannot be read.
	Contact     *referrals.Contact
	ContactGone bool
	Trail       []referrals.Event
	Offers      []offerRow
	Moves       moves
	Suggestions []directory.Suggestion
	// ReferBlocked says why the request may not be referred, when it may not.
	ReferBlocked string
	// Form holds what was typed into the moves' forms and what is wrong.
	Form   form
	Notice string
	Error  string
}

// moves are the moves the request's state allows, as the page shows them.
type moves struct {
	Take, Decline, Accept, Reject, Close, Refer bool
	Outcomes                                    []directory.Option
}

// Any reports whether any move is open.
func (m moves) Any() bool {
	return m.Take || m.Decline || m.Accept || m.Reject || m.Close || m.Refer || len(m.Outcomes) > 0
}

// offerRow is one referral of the request.
type offerRow struct {
	referrals.Referral
	StateText   string
	CanWithdraw bool
}

// referralNotices are the messages a move's redirect asks the page to show.
var referralNotices = map[string]string{
	"taken":     "You took the request on. The client sees it on their status page: contact them soon.",
	"declined":  "The request is declined. The client sees your reason.",
	"accepted":  "You accepted the referral. The coop that sent it is told, and the client will learn that you will contact them.",
	"rejected":  "You declined the referral. The coop that sent it is told, with your reason.",
	"closed":    "The request is closed without a taker.",
	"referred":  "The request is on its way to the coops you chose.",
	"withdrawn": "The offer is withdrawn.",
	"outcome":   "The outcome is saved.",
}

func (s *Server) referralDetail(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	m, _ := currentMember(c)
	p, err := s.referralPage(c, m.CoopID, id)
	if err != nil {
		return err
	}
	p.Notice = referralNotices[c.QueryParam("done")]
	return s.render(c, http.StatusOK, "referral", p)
}

// referralPage gathers a request held by coopID, with its contact details,
// referrals, trail and the moves open to it.
func (s *Server) referralPage(c echo.Context, coopID, id int64) (referralPage, error) {
	ctx := c.Request().Context()
	co, err := s.store.CoopByID(ctx, coopID)
	if err != nil {
		return referralPage{}, err
	}
	r, err := s.cfg.Referrals.RequestByID(ctx, coopID, id)
	if err != nil {
		return referralPage{}, referralError(err)
	}
	refs, err := s.cfg.Referrals.Referrals(ctx, coopID, id)
	if err != nil {
		return referralPage{}, err
	}
	trail, err := s.cfg.Referrals.Trail(ctx, id, false)
	if err != nil {
		return referralPage{}, err
	}
	p := referralPage{
		Title: requestTitle(r), Coop: co, Request: r, State: stateWords[r.State],
		Outcome: directory.Label(outcomeOptions, string(r.Outcome)), Source: requestSource(r),
		Summary: summarize(r.Details), Trail: trail, Form: newForm(nil),
	}
	if p.Contact, p.ContactGone, err = s.contact(ctx, r); err != nil {
		return referralPage{}, err
	}
	for _, ref := range refs {
		row := offerRow{Referral: ref, StateText: offerWords[ref.State], CanWithdraw: referrals.CheckWithdrawOffer(ref) == nil}
		if ref.Undelivered() {
			row.StateText = "Not delivered: withdraw it and refer elsewhere"
			row.Reason = ref.UndeliveredReason
		}
		p.Offers = append(p.Offers, row)
	}
	p.Moves = allowedMoves(r, refs)
	if err := referrals.CheckRefer(r, refs, "", time.Now()); err != nil {
		// Said only where the state would allow it: that a taken request
		// cannot be referred goes without saying.
		if r.State == referrals.StateNew || r.State == referrals.StateReferred {
			p.ReferBlocked = refusal(err)
		}
	} else {
		p.Suggestions = s.suggestPeers(r, refs)
		p.Moves.Refer = true
	}
	return p, nil
}

// contact reads the client's contact details; gone is true once purged.
// They are shown to members and never logged.
func (s *Server) contact(ctx context.Context, r referrals.Request) (*referrals.Contact, bool, error) {
	ct, err := s.cfg.Referrals.ContactFor(ctx, r.CoopID, r.ID)
	switch {
	case errors.Is(err, referrals.ErrContactPurged):
		return nil, true, nil
	case err != nil:
		return nil, false, err
	}
	return &ct, false, nil
}

// allowedMoves asks the state machine which moves the request allows.
func allowedMoves(r referrals.Request, refs []referrals.Referral) moves {
	var m moves
	take, decline := referrals.CheckTake(r, refs) == nil, referrals.CheckDecline(r, refs) == nil
	if r.Received() {
		m.Accept, m.Reject = take, decline
	} else {
		m.Take, m.Decline = take, decline
	}
	m.Close = referrals.CheckClose(r, refs) == nil
	for _, o := range outcomeOptions {
		if o.Value != string(r.Outcome) && referrals.CheckOutcome(r, referrals.Outcome(o.Value)) == nil {
			m.Outcomes = append(m.Outcomes, o)
		}
	}
	return m
}

// suggestPeers ranks the coops the request could go to, leaving out those
// it went through and those offered it already.
func (s *Server) suggestPeers(r referrals.Request, refs []referrals.Referral) []directory.Suggestion {
	if s.cfg.Directory == nil {
		return nil
	}
	exclude := append([]string(nil), r.Chain...)
	for _, ref := range refs {
		exclude = append(exclude, ref.Peer.ActorID)
	}
	return s.cfg.Directory.SuggestPeers(directory.SuggestRequest{
		Categories: r.Categories, Skills: r.Skills, Country: r.Country, Region: r.Region, Language: r.Language,
		Text: r.Description, LocalActor: s.actorID,
	}, exclude, suggestLimit)
}
