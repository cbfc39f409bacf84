package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/referrals"
)

// The moves members make on the request page. Each is a POST (CSRF checked
// by the middleware) answered with a redirect to the request and a notice;
// a refused move shows the page again with the reason (409), bad input with
// a message by the field (400).

// move is one move on request id of coop coopID, with the posted form.
type move func(ctx context.Context, coopID, id int64, v url.Values) error

// referralMove serves a move. reasonField is the name of the form's field
// that the store calls "reason", so that its message shows by it.
func (s *Server) referralMove(done, reasonField string, mv move) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := idParam(c, "id")
		if err != nil {
			return err
		}
		values, err := formParams(c)
		if err != nil {
			return err
		}
		m, _ := currentMember(c)
		err = mv(c.Request().Context(), m.CoopID, id, values)
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/manage/referrals/"+strconv.FormatInt(id, 10)+"?done="+done)
		}
		var ve *validate.Error
		status := http.StatusConflict
		switch {
		case errors.Is(err, referrals.ErrNotFound):
			return referralError(err)
		case errors.As(err, &ve):
			status = http.StatusBadRequest
		case !refused(err):
			return err
		}
		p, perr := s.referralPage(c, m.CoopID, id)
		if perr != nil {
			return perr
		}
		p.Form = newForm(values)
		if ve != nil {
			for k, msg := range ve.Fields {
				if k == "reason" {
					k = reasonField
				}
				p.Form.Errors.Add(k, msg)
			}
		} else {
			p.Error = refusal(err)
		}
		return s.render(c, status, "referral", p)
	}
}

// referralMoves are the moves, by the last part of their path.
func (s *Server) referralMoves() map[string]echo.HandlerFunc {
	refs := s.cfg.Referrals
	return map[string]echo.HandlerFunc{
		"take": s.referralMove("taken", "", func(ctx context.Context, coopID, id int64, _ url.Values) error {
			_, err := refs.Take(ctx, coopID, id)
			return err
		}),
		"decline": s.referralMove("declined", "decline_reason", func(ctx context.Context, coopID, id int64, v url.Values) error {
			_, err := refs.Decline(ctx, coopID, id, v.Get("decline_reason"))
			return err
		}),
		"accept": s.referralMove("accepted", "", func(ctx context.Context, coopID, id int64, _ url.Values) error {
			_, err := refs.AcceptReceived(ctx, coopID, id)
			return err
		}),
		"reject": s.referralMove("rejected", "reject_reason", func(ctx context.Context, coopID, id int64, v url.Values) error {
			_, err := refs.RejectReceived(ctx, coopID, id, v.Get("reject_reason"))
			return err
		}),
		"close": s.referralMove("closed", "close_reason", func(ctx context.Context, coopID, id int64, v url.Values) error {
			_, err := refs.Close(ctx, coopID, id, v.Get("close_reason"))
			return err
		}),
		"refer": s.referralMove("referred", "", func(ctx context.Context, coopID, id int64, v url.Values) error {
			return s.refer(ctx, coopID, id, v["peers"])
		}),
		"withdraw": s.referralMove("withdrawn", "", func(ctx context.Context, coopID, id int64, v url.Values) error {
			refID, err := strconv.ParseInt(v.Get("referral_id"), 10, 64)
			if err != nil {
				return &validate.Error{Fields: validate.Errors{"referral_id": "must name one of the request's referrals"}}
			}
			return s.withdrawOffer(ctx, coopID, id, refID)
		}),
		"outcome": s.referralMove("outcome", "", func(ctx context.Context, coopID, id int64, v url.Values) error {
			o := v.Get("outcome")
			if !isOption(outcomeOptions, o) {
				return &validate.Error{Fields: validate.Errors{"outcome": "must be one of the choices in the list"}}
			}
			_, err := refs.MarkOutcome(ctx, coopID, id, referrals.Outcome(o))
			return err
		}),
	}
}

// refer offers request id to the coops with the actor ids given, each
// checked first: known to this node, and allowed by the request's state and
// the client's consent.
func (s *Server) refer(ctx context.Context, coopID, id int64, actors []string) error {
	r, err := s.cfg.Referrals.RequestByID(ctx, coopID, id)
	if err != nil {
		return err
	}
	refs, err := s.cfg.Referrals.Referrals(ctx, coopID, id)
	if err != nil {
		return err
	}
	if len(actors) == 0 {
		return &validate.Error{Fields: validate.Errors{"peers": "choose at least one coop"}}
	}
	var peers []referrals.Peer
	now := time.Now()
	for _, a := range actors {
		p, err := s.peerByActor(ctx, strings.TrimSpace(a))
		if err != nil {
			return err
		}
		if err := referrals.CheckRefer(r, refs, p.ActorID, now); err != nil {
			return err
		}
		peers = append(peers, p)
	}
	_, err = s.cfg.Referrals.Refer(ctx, coopID, id, peers)
	return err
}

// peerByActor names the coop with that actor id: one hosted here, or a
// peer's this node knows. Others are refused: a request goes only to coops
// whose profile the members could read.
func (s *Server) peerByActor(ctx context.Context, actor string) (referrals.Peer, error) {
	unknown := &validate.Error{Fields: validate.Errors{"peers": "this node knows no coop " + strconv.Quote(actor)}}
	base := strings.TrimSuffix(s.cfg.BaseURL.String(), "/") + "/coops/"
	if slug, ok := strings.CutPrefix(actor, base); ok {
		co, err := s.store.CoopBySlug(ctx, slug)
		if errors.Is(err, directory.ErrNotFound) {
			return referrals.Peer{}, unknown
		}
		return referrals.Peer{ActorID: actor, Name: co.Name}, err
	}
	k, err := s.store.RemoteCoopByActor(ctx, actor)
	if errors.Is(err, directory.ErrNotFound) {
		return referrals.Peer{}, unknown
	}
	return referrals.Peer{ActorID: k.ActorID, Name: k.Name}, err
}

// withdrawOffer withdraws the offer refID of request id.
func (s *Server) withdrawOffer(ctx context.Context, coopID, id, refID int64) error {
	refs, err := s.cfg.Referrals.Referrals(ctx, coopID, id)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		if ref.ID == refID {
			_, err := s.cfg.Referrals.Withdraw(ctx, coopID, refID)
			return err
		}
	}
	return referrals.ErrNotFound
}
