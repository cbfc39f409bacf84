package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/validate"
	"github.com/coopnet/coopnet/referrals"
)

// The work request form on each coop's page: a nonprofit, without an
// account, tells the coop what it needs and gets a private status link.

// honeypotField is a field people do not see (style.css moves it off the
// screen; its label tells anyone who meets it to leave it empty) and form-
// filling robots do fill in.
const honeypotField = "website"

// maxIntakeBody caps a request form or API intake: the longest text allowed
// (5,000 characters of description) fits many times over.
const maxIntakeBody = "64K"

// requestForm is the work request form of a coop, filled in again with a
// message per field when the request was refused. The shared template
// "request-form" in layout.html renders it.
type requestForm struct {
	Form form
	Coop directory.Coop
	CSRF string
}

func newRequestForm(co directory.Coop, values url.Values) requestForm {
	return requestForm{Form: newForm(values), Coop: co}
}

// With returns the form with the page's CSRF token, which the page's own
// data does not carry: {{template "request-form" (.Page.Request.With .CSRF)}}.
func (f requestForm) With(csrf string) requestForm {
	f.CSRF = csrf
	return f
}

// choice is one checkbox of a group.
type choice struct {
	ID, Value, Label string
	Checked          bool
}

// Categories are the service categories as checkboxes, ticked as sent.
func (f requestForm) Categories() []choice {
	sent := f.Form.Values["categories"]
	out := make([]choice, len(directory.Categories))
	for i, o := range directory.Categories {
		out[i] = choice{ID: "f-categories-" + o.Value, Value: o.Value, Label: o.Label}
		for _, v := range sent {
			out[i].Checked = out[i].Checked || v == o.Value
		}
	}
	return out
}

// CategoriesError is the message about the categories, as a sentence.
func (f requestForm) CategoriesError() string {
	if msg := f.Form.Errors["categories"]; msg != "" {
		return sentence(msg)
	}
	return ""
}

// requestPage is the form on a page of its own: where a refused request
// comes back, and what browsers that lost the coop page's anchor open.
type requestPage struct {
	Title   string
	Coop    directory.Coop
	Request requestForm
}

func (s *Server) requestFormPage(c echo.Context) error {
	co, err := s.coopInPath(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "referral_request", requestPage{
		Title: "Request work from " + co.Name, Coop: co, Request: newRequestForm(co, nil)})
}

// requestSentPage shows the status link, this once: only its hash is kept.
type requestSentPage struct {
	Title      string
	Coop       directory.Coop
	StatusURL  string
	StatusPath string
}

// createRequest records a work request sent with the form.
func (s *Server) createRequest(c echo.Context) error {
	co, err := s.coopInPath(c)
	if err != nil {
		return err
	}
	values, err := formParams(c)
	if err != nil {
		return err
	}
	privateHeaders(c)
	if values.Get(honeypotField) != "" {
		// A robot: it is told the request went through, and nothing is
		// kept. The link it gets leads nowhere.
		return s.renderRequestSent(c, co, randomToken())
	}
	in, perr := intakeFromValues(values)
	var token string
	err = perr.Err()
	if err == nil {
		_, token, err = s.cfg.Referrals.CreateRequest(c.Request().Context(), s.localCoop(co), in)
	} else {
		err = merge(perr, in.Normalize(time.Now())).Err()
	}
	if err != nil {
		f, ok := newForm(values).withError(err)
		if !ok {
			return err
		}
		rf := newRequestForm(co, values)
		rf.Form = f
		return s.render(c, http.StatusBadRequest, "referral_request", requestPage{
			Title: "Request work from " + co.Name, Coop: co, Request: rf})
	}
	return s.renderRequestSent(c, co, token)
}

func (s *Server) renderRequestSent(c echo.Context, co directory.Coop, token string) error {
	return s.render(c, http.StatusOK, "referral_sent", requestSentPage{
		Title: "Your request is sent", Coop: co, StatusURL: s.apiAbsURL(statusPath(token)), StatusPath: statusPath(token)})
}

func statusPath(token string) string { return "/requests/" + url.PathEscape(token) }

// randomToken looks like a status link's secret and opens nothing.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// intakeFromValues reads a request from a form: the page's, or one posted
// to the API. Lists may come repeated or separated by commas. The errors
// are those of reading (a budget that is not a number); the store checks
// the rest.
func intakeFromValues(v url.Values) (referrals.Intake, validate.Errors) {
	e := validate.Errors{}
	var in referrals.Intake
	in.Organization = v.Get("organization")
	in.Contact = referrals.Contact{Name: v.Get("contact_name"), Email: v.Get("email"), Phone: v.Get("phone")}
	in.Description = v.Get("description")
	in.Categories = splitAll(v["categories"])
	in.Skills = splitAll(v["skills"])
	in.BudgetMin = optionalInt(&e, v, "budget_min")
	in.BudgetMax = optionalInt(&e, v, "budget_max")
	in.Currency = v.Get("currency")
	in.Deadline = v.Get("deadline")
	in.Country = v.Get("country")
	in.Region = v.Get("region")
	in.Language = v.Get("language")
	in.ConsentToShare = formBool(v.Get("consent_to_share"))
	return in, e
}

// splitAll splits every value of a repeated field at commas.
func splitAll(values []string) []string {
	return validate.SplitList(strings.Join(values, ","))
}

// formBool reads a checkbox ("on") or a boolean sent by a script.
func formBool(v string) bool {
	if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
		return b
	}
	v = strings.ToLower(strings.TrimSpace(v))
	return v == "on" || v == "yes"
}

// localCoop is a coop hosted here as the referrals store knows it.
func (s *Server) localCoop(co directory.Coop) referrals.Local {
	return referrals.Local{CoopID: co.ID, ActorID: s.actorID(co.Slug)}
}

// actorID is the ActivityPub actor id of a coop hosted here.
func (s *Server) actorID(slug string) string { return s.apiAbsURL(federation.ActorPath(slug)) }

// intakeLimiter limits work requests per client address, for the form and
// the API together: half the hour's budget at once, then the rest spread
// over the hour. By default (12 an hour) that is enough for a person
// correcting a form a few times, and too few for a robot to fill a coop's
// inbox.
func (s *Server) intakeLimiter() echo.MiddlewareFunc {
	perHour := s.cfg.WorkRequestsPerHour
	if perHour == 0 {
		perHour = 12
	}
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(perHour / 3600), Burst: max(int(perHour/2), 1), ExpiresIn: time.Hour,
	})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			return c.RealIP(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", "600")
			return echo.NewHTTPError(http.StatusTooManyRequests,
				"Too many work requests from your address. Please wait a few minutes, then try again.")
		},
	})
}

// intakeLimits guard the routes that take work requests: the body size
// first, then the rate per address.
func (s *Server) intakeLimits() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{middleware.BodyLimit(maxIntakeBody), s.intakeLimit}
}
