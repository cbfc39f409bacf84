package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/referrals"
)

// The members' side of the work request API: every route needs a token of
// a member of the coop in the URL.

// apiWorkRequest is a request as its coop's members see it in lists.
type apiWorkRequest struct {
	referrals.Request
	// Source is "client" for a request a client sent here, "peer" for one
	// a peer referred here.
	Source string `json:"source"`
	URL    string `json:"url"`
}

// apiWorkRequestDetail is one request with everything about it.
type apiWorkRequestDetail struct {
	apiWorkRequest
	// Contact is null once the details were purged (ContactPurged).
	Contact       *referrals.Contact   `json:"contact"`
	ContactPurged bool                 `json:"contact_purged"`
	Referrals     []referrals.Referral `json:"referrals"`
	Trail         []referrals.Event    `json:"trail"`
	Moves         apiMoves             `json:"moves"`
}

// apiMoves are the moves the request's state allows now.
type apiMoves struct {
	Take     bool     `json:"take"`
	Decline  bool     `json:"decline"`
	Accept   bool     `json:"accept"`
	Reject   bool     `json:"reject"`
	Close    bool     `json:"close"`
	Refer    bool     `json:"refer"`
	Outcomes []string `json:"outcomes"`
	// Withdraw lists the ids of the referrals that can be withdrawn.
	Withdraw []int64 `json:"withdraw"`
}

// apiSuggestion is a coop the request could be referred to.
type apiSuggestion struct {
	ActorID string   `json:"actor_id"`
	Name    string   `json:"name"`
	Domain  string   `json:"domain"`
	URL     string   `json:"url"`
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
}

func (s *Server) apiWorkRequest(r referrals.Request) apiWorkRequest {
	src := "client"
	if r.Received() {
		src = "peer"
	}
	return apiWorkRequest{Request: r, Source: src, URL: s.apiAbsURL("/manage/referrals/" + strconv.FormatInt(r.ID, 10))}
}

// apiListReferrals is the coop's inbox: requests from clients and from
// peers, newest first.
func (s *Server) apiListReferrals(c echo.Context) error {
	co, _, err := s.apiMemberCoop(c)
	if err != nil {
		return err
	}
	f, closed, err := apiListFilter(c.QueryParams())
	if err != nil {
		return err
	}
	list, err := s.cfg.Referrals.ListRequests(c.Request().Context(), co.ID, f)
	if err != nil {
		return err
	}
	out := []apiWorkRequest{}
	for _, r := range list {
		if closed == nil || (r.ClosedAt != nil) == *closed {
			out = append(out, s.apiWorkRequest(r))
		}
	}
	return c.JSON(http.StatusOK, out)
}

// apiReferralID returns the member's coop and the :id of a request.
func (s *Server) apiReferralID(c echo.Context) (int64, int64, error) {
	co, _, err := s.apiMemberCoop(c)
	if err != nil {
		return 0, 0, err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, 0, referralError(referrals.ErrNotFound)
	}
	return co.ID, id, nil
}

func (s *Server) apiGetReferral(c echo.Context) error {
	coopID, id, err := s.apiReferralID(c)
	if err != nil {
		return err
	}
	return s.apiReferralDetail(c, coopID, id)
}

// apiReferralDetail answers with the request as it is now.
func (s *Server) apiReferralDetail(c echo.Context, coopID, id int64) error {
	d, err := s.referralDetailJSON(c.Request().Context(), coopID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) referralDetailJSON(ctx context.Context, coopID, id int64) (apiWorkRequestDetail, error) {
	r, err := s.cfg.Referrals.RequestByID(ctx, coopID, id)
	if err != nil {
		return apiWorkRequestDetail{}, referralError(err)
	}
	refs, err := s.cfg.Referrals.Referrals(ctx, coopID, id)
	if err != nil {
		return apiWorkRequestDetail{}, err
	}
	trail, err := s.cfg.Referrals.Trail(ctx, id, false)
	if err != nil {
		return apiWorkRequestDetail{}, err
	}
	d := apiWorkRequestDetail{apiWorkRequest: s.apiWorkRequest(r), Referrals: refs, Trail: trail}
	if d.Contact, d.ContactPurged, err = s.contact(ctx, r); err != nil {
		return apiWorkRequestDetail{}, err
	}
	m := allowedMoves(r, refs)
	d.Moves = apiMoves{Take: m.Take, Decline: m.Decline, Accept: m.Accept, Reject: m.Reject, Close: m.Close,
		Refer: referrals.CheckRefer(r, refs, "", time.Now()) == nil, Outcomes: []string{}, Withdraw: []int64{}}
	for _, o := range m.Outcomes {
		d.Moves.Outcomes = append(d.Moves.Outcomes, o.Value)
	}
	for _, ref := range refs {
		if referrals.CheckWithdrawOffer(ref) == nil {
			d.Moves.Withdraw = append(d.Moves.Withdraw, ref.ID)
		}
	}
	return d, nil
}

// apiReferralSuggestions ranks the coops the request could be referred to.
func (s *Server) apiReferralSuggestions(c echo.Context) error {
	coopID, id, err := s.apiReferralID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.cfg.Referrals.RequestByID(ctx, coopID, id)
	if err != nil {
		return referralError(err)
	}
	refs, err := s.cfg.Referrals.Referrals(ctx, coopID, id)
	if err != nil {
		return err
	}
	out := []apiSuggestion{}
	for _, sg := range s.suggestPeers(r, refs) {
		u := sg.URL
		if sg.Local() {
			u = sg.ActorID
		}
		out = append(out, apiSuggestion{ActorID: sg.ActorID, Name: sg.Name, Domain: sg.Domain, URL: u,
			Score: sg.Score, Reasons: sg.Reasons})
	}
	return c.JSON(http.StatusOK, out)
}

// apiReferralStats are the coop's numbers with each peer over a period:
// from and to are dates, both included (default: the last 12 months).
func (s *Server) apiReferralStats(c echo.Context) error {
	co, _, err := s.apiMemberCoop(c)
	if err != nil {
		return err
	}
	from, to, e := statsPeriod(c.QueryParams(), time.Now())
	if len(e) > 0 {
		return e.Err()
	}
	st, err := s.cfg.Referrals.Stats(c.Request().Context(), co.ID, from, to)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// apiReason is the body of decline, reject and close.
type apiReason struct {
	Reason string `json:"reason"`
}

// apiMove serves a move: read the body (when the move takes one), make
// the move, answer with the request as it is now.
func (s *Server) apiMove(body func() any, mv func(ctx context.Context, coopID, id int64, body any) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		coopID, id, err := s.apiReferralID(c)
		if err != nil {
			return err
		}
		var b any
		if body != nil {
			b = body()
			if err := apiDecode(c, b); err != nil {
				return err
			}
		}
		if err := mv(c.Request().Context(), coopID, id, b); err != nil {
			return referralError(err)
		}
		return s.apiReferralDetail(c, coopID, id)
	}
}

// apiReferralMoves are the moves, by the last part of their path.
func (s *Server) apiReferralMoves() map[string]echo.HandlerFunc {
	refs := s.cfg.Referrals
	reason := func() any { return &apiReason{} }
	type peers struct {
		Peers []string `json:"peers"`
	}
	type outcome struct {
		Outcome string `json:"outcome"`
	}
	type withdraw struct {
		ReferralID int64 `json:"referral_id"`
	}
	return map[string]echo.HandlerFunc{
		"take": s.apiMove(nil, func(ctx context.Context, coopID, id int64, _ any) error {
			_, err := refs.Take(ctx, coopID, id)
			return err
		}),
		"decline": s.apiMove(reason, func(ctx context.Context, coopID, id int64, b any) error {
			_, err := refs.Decline(ctx, coopID, id, b.(*apiReason).Reason)
			return err
		}),
		"accept": s.apiMove(nil, func(ctx context.Context, coopID, id int64, _ any) error {
			_, err := refs.AcceptReceived(ctx, coopID, id)
			return err
		}),
		"reject": s.apiMove(reason, func(ctx context.Context, coopID, id int64, b any) error {
			_, err := refs.RejectReceived(ctx, coopID, id, b.(*apiReason).Reason)
			return err
		}),
		"close": s.apiMove(reason, func(ctx context.Context, coopID, id int64, b any) error {
			_, err := refs.Close(ctx, coopID, id, b.(*apiReason).Reason)
			return err
		}),
		"refer": s.apiMove(func() any { return &peers{} }, func(ctx context.Context, coopID, id int64, b any) error {
			return s.refer(ctx, coopID, id, b.(*peers).Peers)
		}),
		"withdraw": s.apiMove(func() any { return &withdraw{} }, func(ctx context.Context, coopID, id int64, b any) error {
			return s.withdrawOffer(ctx, coopID, id, b.(*withdraw).ReferralID)
		}),
		"outcome": s.apiMove(func() any { return &outcome{} }, func(ctx context.Context, coopID, id int64, b any) error {
			o := b.(*outcome).Outcome
			if !isOption(outcomeOptions, o) {
				return &validate.Error{Fields: validate.Errors{"outcome": "must be in_progress, completed or lost"}}
			}
			_, err := refs.MarkOutcome(ctx, coopID, id, referrals.Outcome(o))
			return err
		}),
	}
}
