package web

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/referrals"
)

// The client's status page: /requests/{token}, a capability URL. Whoever
// has the link sees the request and may withdraw it, so the link must not
// leak: no caches keep the page, no Referer header carries it to other
// sites, and the logs show the path without it (redactURI).

// privateHeaders keeps a response out of caches and its URL out of Referer
// headers.
func privateHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Referrer-Policy", "no-referrer")
}

// private sets privateHeaders before the handler runs, so that error pages
// (an unknown token's 404) get them too.
func private(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		privateHeaders(c)
		return next(c)
	}
}

// statusPathRE matches the secret in status link paths, for the logs.
var statusPathRE = regexp.MustCompile(`(/requests/)[^/?#]+`)

// redactURI hides the secret of a status link in a URI before it is logged:
// the log is read by operators, who have no business opening clients'
// requests.
func redactURI(uri string) string {
	return statusPathRE.ReplaceAllString(uri, "${1}[redacted]")
}

// statusPage is what the client sees of their request.
type statusPage struct {
	Title       string
	Coop        directory.Coop
	Request     referrals.Request
	State       string
	Summary     requestSummary
	Trail       []referrals.Event
	CanWithdraw bool
	Token       string
	Notice      string
	Error       string
}

var statusNotices = map[string]string{
	"withdrawn": "Your request is withdrawn. No coop will act on it any more.",
}

// requestByToken finds the request a status link opens. An unknown link
// costs the same as a known one: the store looks its hash up, so that the
// time taken tells nothing about which secrets exist.
func (s *Server) requestByToken(c echo.Context) (referrals.Request, error) {
	r, err := s.cfg.Referrals.RequestByStatusToken(c.Request().Context(), c.Param("token"))
	if errors.Is(err, referrals.ErrNotFound) {
		return r, noRequest()
	}
	return r, err
}

func noRequest() error {
	return echo.NewHTTPError(http.StatusNotFound, "There is no request at this address. Check that the whole link was copied.")
}

func (s *Server) statusPage(c echo.Context, r referrals.Request) (statusPage, error) {
	ctx := c.Request().Context()
	co, err := s.store.CoopByID(ctx, r.CoopID)
	if err != nil {
		return statusPage{}, err
	}
	trail, err := s.cfg.Referrals.Trail(ctx, r.ID, true)
	if err != nil {
		return statusPage{}, err
	}
	return statusPage{
		Title: "Your request to " + co.Name, Coop: co, Request: r, State: clientState(r),
		Summary: summarize(r.Details), Trail: trail, CanWithdraw: referrals.CheckWithdrawRequest(r) == nil,
		Token: c.Param("token"), Notice: statusNotices[c.QueryParam("done")],
	}, nil
}

func (s *Server) requestStatus(c echo.Context) error {
	return s.renderStatus(c, http.StatusOK, "")
}

// renderStatus renders the status page of the request named by the token,
// with problem (if any) said at the top.
func (s *Server) renderStatus(c echo.Context, code int, problem string) error {
	r, err := s.requestByToken(c)
	if err != nil {
		return err
	}
	p, err := s.statusPage(c, r)
	if err != nil {
		return err
	}
	p.Error = problem
	return s.render(c, code, "referral_status", p)
}

// withdrawRequest is the client withdrawing the request from the status
// page, until a coop takes it on.
func (s *Server) withdrawRequest(c echo.Context) error {
	_, err := s.cfg.Referrals.WithdrawRequest(c.Request().Context(), c.Param("token"))
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, statusPath(c.Param("token"))+"?done=withdrawn")
	case errors.Is(err, referrals.ErrNotFound):
		return noRequest()
	case !refused(err):
		return err
	}
	return s.renderStatus(c, http.StatusConflict, "Your request can no longer be withdrawn: a coop has taken it on, or it is closed.")
}

// clientState says where the request stands, in the client's words.
func clientState(r referrals.Request) string {
	switch r.State {
	case referrals.StateNew:
		return "Received: the coop will look at it soon."
	case referrals.StateReferred:
		return "Passed on to other cooperatives: waiting for their answers."
	case referrals.StateTaken:
		return "Taken on: the coop will contact you."
	case referrals.StateDeclined:
		return "Declined."
	case referrals.StateAccepted:
		name := r.TakerName
		if name == "" {
			name = "another cooperative"
		}
		return "Taken on by " + name + ": they will contact you."
	case referrals.StateUnplaced:
		return "Closed: no cooperative could take it."
	case referrals.StateWithdrawn:
		return "Withdrawn."
	}
	return string(r.State)
}
