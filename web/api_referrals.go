package web

import (
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/referrals"
)

// The JSON API of work requests: the public intake and status link, and
// the members' inbox, moves and numbers.

// apiIntakeInput is a work request sent to the API as JSON.
type apiIntakeInput struct {
	Organization   string   `json:"organization"`
	ContactName    string   `json:"contact_name"`
	Email          string   `json:"email"`
	Phone          string   `json:"phone"`
	Description    string   `json:"description"`
	Categories     []string `json:"categories"`
	Skills         []string `json:"skills"`
	BudgetMin      *int64   `json:"budget_min"`
	BudgetMax      *int64   `json:"budget_max"`
	Currency       string   `json:"currency"`
	Deadline       string   `json:"deadline"`
	Country        string   `json:"country"`
	Region         string   `json:"region"`
	Language       string   `json:"language"`
	ConsentToShare bool     `json:"consent_to_share"`
}

func (in apiIntakeInput) intake() referrals.Intake {
	return referrals.Intake{
		Details: referrals.Details{Organization: in.Organization, Description: in.Description,
			Categories: in.Categories, Skills: in.Skills, BudgetMin: in.BudgetMin, BudgetMax: in.BudgetMax,
			Currency: in.Currency, Deadline: in.Deadline, Country: in.Country, Region: in.Region,
			Language: in.Language, ConsentToShare: in.ConsentToShare},
		Contact: referrals.Contact{Name: in.ContactName, Email: in.Email, Phone: in.Phone},
	}
}

// apiRequestCreated answers a new work request.
type apiRequestCreated struct {
	ID    string          `json:"id"`
	State referrals.State `json:"state"`
	// StatusURL is the client's private status page; StatusAPIURL the same
	// as JSON. Neither is shown again.
	StatusURL    string `json:"status_url"`
	StatusAPIURL string `json:"status_api_url"`
}

// apiIntake reads a work request sent as JSON or as a form. ok is false
// for a form whose honeypot field is filled in.
func apiIntake(c echo.Context) (in referrals.Intake, ok bool, err error) {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	switch mt {
	case echo.MIMEApplicationJSON:
		var body apiIntakeInput
		if err := apiDecode(c, &body); err != nil {
			return in, false, err
		}
		return body.intake(), true, nil
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		values, err := formParams(c)
		if err != nil {
			return in, false, err
		}
		if values.Get(honeypotField) != "" {
			return in, false, nil
		}
		in, e := intakeFromValues(values)
		if len(e) > 0 {
			return in, false, merge(e, in.Normalize(time.Now())).Err()
		}
		return in, true, nil
	}
	return in, false, echo.NewHTTPError(http.StatusUnsupportedMediaType,
		"the request body must be JSON (Content-Type: application/json) or a form (application/x-www-form-urlencoded)")
}

// apiCreateRequest takes a client's work request for a coop. No token is
// needed; the route is rate-limited per address.
func (s *Server) apiCreateRequest(c echo.Context) error {
	co, err := s.apiURLCoop(c)
	if err != nil {
		return err
	}
	in, ok, err := apiIntake(c)
	if err != nil {
		return err
	}
	privateHeaders(c)
	var r referrals.Request
	token := randomToken()
	if ok {
		r, token, err = s.cfg.Referrals.CreateRequest(c.Request().Context(), s.localCoop(co), in)
		if err != nil {
			return err
		}
	} else {
		// A robot that filled in the honeypot: it is answered as if the
		// request were kept, with a link that opens nothing.
		r = referrals.Request{PublicID: randomToken()[:22], State: referrals.StateNew}
	}
	apiURL := s.apiAbsURL("/api/v1" + statusPath(token))
	c.Response().Header().Set(echo.HeaderLocation, apiURL)
	return c.JSON(http.StatusCreated, apiRequestCreated{ID: r.PublicID, State: r.State,
		StatusURL: s.apiAbsURL(statusPath(token)), StatusAPIURL: apiURL})
}

// apiRequestStatus is what the client's status link shows, as JSON.
type apiRequestStatus struct {
	ID        string          `json:"id"`
	Coop      string          `json:"coop"`
	CoopName  string          `json:"coop_name"`
	State     referrals.State `json:"state"`
	StateText string          `json:"state_text"`
	Outcome   string          `json:"outcome"`
	referrals.Details
	CreatedAt   time.Time        `json:"created_at"`
	ClosedAt    *time.Time       `json:"closed_at"`
	CanWithdraw bool             `json:"can_withdraw"`
	Trail       []apiStatusEvent `json:"trail"`
}

// apiStatusEvent is a step of the trail as the client sees it.
type apiStatusEvent struct {
	At   time.Time           `json:"at"`
	Kind referrals.EventKind `json:"kind"`
	Text string              `json:"text"`
}

func (s *Server) apiStatus(c echo.Context, r referrals.Request) (apiRequestStatus, error) {
	p, err := s.statusPage(c, r)
	if err != nil {
		return apiRequestStatus{}, err
	}
	st := apiRequestStatus{ID: r.PublicID, Coop: p.Coop.Slug, CoopName: p.Coop.Name, State: r.State,
		StateText: p.State, Outcome: string(r.Outcome), Details: r.Details, CreatedAt: r.CreatedAt,
		ClosedAt: r.ClosedAt, CanWithdraw: p.CanWithdraw, Trail: []apiStatusEvent{}}
	for _, e := range p.Trail {
		st.Trail = append(st.Trail, apiStatusEvent{At: e.At, Kind: e.Kind, Text: e.Text})
	}
	return st, nil
}

// apiGetStatus reads a request through its status link's secret.
func (s *Server) apiGetStatus(c echo.Context) error {
	r, err := s.requestByToken(c)
	if err != nil {
		return err
	}
	st, err := s.apiStatus(c, r)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// apiWithdrawStatus is the client withdrawing the request.
func (s *Server) apiWithdrawStatus(c echo.Context) error {
	ch, err := s.cfg.Referrals.WithdrawRequest(c.Request().Context(), c.Param("token"))
	switch {
	case err == nil:
	case errors.Is(err, referrals.ErrNotFound):
		return noRequest()
	case refused(err):
		return echo.NewHTTPError(http.StatusConflict,
			"the request can no longer be withdrawn: a coop has taken it on, or it is closed").SetInternal(err)
	default:
		return err
	}
	st, err := s.apiStatus(c, ch.Request)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// apiListFilter reads the inbox's filters: state is a request state, or
// new, open, closed or all; source is clients or peers.
func apiListFilter(v url.Values) (referrals.Filter, *bool, error) {
	e := validate.Errors{}
	var f referrals.Filter
	var closed *bool
	switch st := v.Get("state"); {
	case st == "" || isOption(inboxStatuses, st):
		f.States, closed = inboxFilter(st)
	case isRequestState(st):
		f.States = []referrals.State{referrals.State(st)}
	default:
		e.Add("state", "must be new, open, closed, all or a request state such as referred")
	}
	switch src := v.Get("source"); src {
	case "", "clients", "peers":
		f.Source = referrals.Source(src)
	default:
		e.Add("source", "must be clients or peers")
	}
	f.Limit = intValue(&e, v, "limit")
	if f.Limit < 0 || f.Limit > 500 {
		e.Add("limit", "must be between 1 and 500")
	}
	f.BeforeID = int64(intValue(&e, v, "before"))
	return f, closed, e.Err()
}

func isRequestState(s string) bool {
	for _, st := range referrals.States {
		if string(st) == s {
			return true
		}
	}
	return false
}

// referralAPIRoutes registers the work request API on g (/api/v1).
func (s *Server) referralAPIRoutes(g *echo.Group) {
	g.POST("/coops/:slug/requests", s.apiCreateRequest, s.intakeLimits()...)
	g.GET("/requests/:token", s.apiGetStatus, private)
	g.POST("/requests/:token/withdraw", s.apiWithdrawStatus, private)

	g.GET("/coops/:slug/referrals", s.apiListReferrals)
	g.GET("/coops/:slug/referrals/stats", s.apiReferralStats)
	g.GET("/coops/:slug/referrals/:id", s.apiGetReferral)
	g.GET("/coops/:slug/referrals/:id/suggestions", s.apiReferralSuggestions)
	moves := s.apiReferralMoves()
	for _, name := range slices.Sorted(maps.Keys(moves)) {
		g.POST("/coops/:slug/referrals/:id/"+name, moves[name])
	}
}
