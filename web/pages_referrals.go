package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/referrals"
)

// Triage: the members' inbox of work requests, from clients and from
// peers, and the page of one request with the moves its state allows.

// stateWords name a request's state for members.
var stateWords = map[referrals.State]string{
	referrals.StateNew:       "New",
	referrals.StateTaken:     "Taken on",
	referrals.StateDeclined:  "Declined",
	referrals.StateReferred:  "Referred to other coops",
	referrals.StateAccepted:  "Placed with another coop",
	referrals.StateUnplaced:  "Closed without a taker",
	referrals.StateWithdrawn: "Withdrawn",
}

var offerWords = map[referrals.OfferState]string{
	referrals.OfferOffered:   "Waiting for an answer",
	referrals.OfferAccepted:  "Accepted",
	referrals.OfferRejected:  "Declined",
	referrals.OfferWithdrawn: "Withdrawn",
}

// outcomeOptions are the outcomes a member can mark, in words.
var outcomeOptions = []directory.Option{
	{Value: string(referrals.OutcomeInProgress), Label: "Work in progress"},
	{Value: string(referrals.OutcomeCompleted), Label: "Completed"},
	{Value: string(referrals.OutcomeLost), Label: "Did not go ahead"},
}

// The inbox's filters.
var (
	inboxStatuses = []directory.Option{
		{Value: "open", Label: "Open"}, {Value: "new", Label: "New"}, {Value: "closed", Label: "Closed"}, {Value: "all", Label: "All"},
	}
	inboxSources = []directory.Option{
		{Value: "", Label: "Clients and peers"}, {Value: "clients", Label: "From clients"}, {Value: "peers", Label: "From peers"},
	}
)

// inboxPageSize is how many requests the inbox reads per page.
const inboxPageSize = 50

// refused tells the moves the state machine refused, as opposed to bad
// input or a failure.
func refused(err error) bool {
	for _, target := range []error{referrals.ErrInvalidTransition, referrals.ErrNoConsent, referrals.ErrHopLimit,
		referrals.ErrLoop, referrals.ErrExpired} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// refusal is a refused move's reason, as a sentence: the state machine's
// own words, or plainer ones for the rules about passing a request on.
func refusal(err error) string {
	switch {
	case errors.Is(err, referrals.ErrNoConsent):
		return "The client did not agree that the request be passed on to other cooperatives."
	case errors.Is(err, referrals.ErrHopLimit):
		return "The request was passed on as many times as it may be."
	case errors.Is(err, referrals.ErrExpired):
		return "The request is too old to be passed on."
	}
	return sentence(strings.TrimPrefix(err.Error(), "referrals: "))
}

// referralError gives the referrals store's errors their status: 404 for a
// request or referral the coop does not hold, 409 for a refused move.
// Invalid input (*validate.Error) and failures pass unchanged.
func referralError(err error) error {
	switch {
	case errors.Is(err, referrals.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "Your coop has no such request or referral.").SetInternal(err)
	case refused(err):
		return echo.NewHTTPError(http.StatusConflict, refusal(err)).SetInternal(err)
	}
	return err
}

// requestSummary is a request's details in words.
type requestSummary struct {
	Categories []string
	Skills     []string
	Budget     string
	Deadline   string
	Place      string
	Language   string
}

func summarize(d referrals.Details) requestSummary {
	s := requestSummary{Skills: d.Skills, Deadline: d.Deadline, Budget: budgetText(d)}
	for _, c := range d.Categories {
		s.Categories = append(s.Categories, directory.Label(directory.Categories, c))
	}
	s.Place = directory.Coop{Region: d.Region, Country: d.Country}.Location()
	if d.Language != "" {
		s.Language = languageNames([]string{d.Language})[0]
	}
	return s
}

// budgetText is a budget in words, or "" when none is given.
func budgetText(d referrals.Details) string {
	amount := func(v *int64) string { return strconv.FormatInt(*v, 10) + " " + d.Currency }
	switch {
	case d.BudgetMin != nil && d.BudgetMax != nil && *d.BudgetMin == *d.BudgetMax:
		return amount(d.BudgetMin)
	case d.BudgetMin != nil && d.BudgetMax != nil:
		return strconv.FormatInt(*d.BudgetMin, 10) + " to " + amount(d.BudgetMax)
	case d.BudgetMin != nil:
		return "from " + amount(d.BudgetMin)
	case d.BudgetMax != nil:
		return "up to " + amount(d.BudgetMax)
	}
	return ""
}

// requestTitle names a request in lists: the organisation, or its number
// once anonymised or when none was given.
func requestTitle(r referrals.Request) string {
	if r.Organization != "" {
		return r.Organization
	}
	return "Request " + strconv.FormatInt(r.ID, 10)
}

// requestSource says where a request came from.
func requestSource(r referrals.Request) string {
	if !r.Received() {
		return "From a client"
	}
	name := r.FromName
	if name == "" {
		name = r.FromActor
	}
	return "Referred by " + name
}

type inboxPage struct {
	Title    string
	Coop     directory.Coop
	Filter   form
	Statuses []directory.Option
	Sources  []directory.Option
	Rows     []inboxRow
	Older    string // the next page's URL, when there is one
}

type inboxRow struct {
	ID         int64
	Title      string
	Source     string
	State      string
	Attention  string // what the members should look at, such as a referral not delivered
	Categories string
	Deadline   string
	CreatedAt  time.Time
}

// inboxFilter turns the status filter into states, and whether the closed
// (true) or open (false) requests among them are wanted.
func inboxFilter(status string) ([]referrals.State, *bool) {
	yes, no := true, false
	switch status {
	case "new":
		return []referrals.State{referrals.StateNew}, nil
	case "closed":
		return nil, &yes
	case "all":
		return nil, nil
	}
	// A taken request stays open until its work is marked completed or lost.
	return []referrals.State{referrals.StateNew, referrals.StateReferred, referrals.StateTaken}, &no
}

func (s *Server) referralInbox(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	status, source := c.QueryParam("status"), c.QueryParam("source")
	if !isOption(inboxStatuses, status) {
		status = "open"
	}
	if source != "clients" && source != "peers" {
		source = ""
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	states, closed := inboxFilter(status)
	list, err := s.cfg.Referrals.ListRequests(c.Request().Context(), co.ID,
		referrals.Filter{States: states, Source: referrals.Source(source), Limit: inboxPageSize, BeforeID: before})
	if err != nil {
		return err
	}
	undelivered, err := s.cfg.Referrals.UndeliveredOffers(c.Request().Context(), co.ID)
	if err != nil {
		return err
	}
	p := inboxPage{Title: "Work requests", Coop: co, Statuses: inboxStatuses, Sources: inboxSources,
		Filter: newForm(map[string][]string{"status": {status}, "source": {source}})}
	for _, r := range list {
		if closed != nil && (r.ClosedAt != nil) != *closed {
			continue
		}
		cats := summarize(r.Details).Categories
		row := inboxRow{ID: r.ID, Title: requestTitle(r), Source: requestSource(r),
			State: stateWords[r.State], Categories: strings.Join(cats, ", "), Deadline: r.Deadline, CreatedAt: r.CreatedAt}
		switch n := undelivered[r.ID]; {
		case n == 1:
			row.Attention = "A referral was not delivered"
		case n > 1:
			row.Attention = strconv.Itoa(n) + " referrals were not delivered"
		}
		p.Rows = append(p.Rows, row)
	}
	if len(list) == inboxPageSize {
		p.Older = fmt.Sprintf("/manage/referrals?status=%s&source=%s&before=%d", status, source, list[len(list)-1].ID)
	}
	return s.render(c, http.StatusOK, "referrals", p)
}

// isOption reports whether v is one of the values of opts.
func isOption(opts []directory.Option, v string) bool {
	for _, o := range opts {
		if o.Value == v {
			return true
		}
	}
	return false
}

// referralPageRoutes registers the work request pages: the public form and
// status page on g, the members' triage on members (under /manage).
func (s *Server) referralPageRoutes(g, members *echo.Group) {
	g.GET("/coops/:slug/request", s.requestFormPage)
	g.POST("/coops/:slug/requests", s.createRequest, s.intakeLimits()...)
	g.GET("/requests/:token", s.requestStatus, private)
	g.POST("/requests/:token/withdraw", s.withdrawRequest, private)

	members.GET("/referrals", s.referralInbox)
	members.GET("/referrals/stats", s.referralStats)
	members.GET("/referrals/stats.csv", s.referralStatsCSV)
	members.GET("/referrals/:id", s.referralDetail)
	moves := s.referralMoves()
	for _, name := range slices.Sorted(maps.Keys(moves)) {
		members.POST("/referrals/:id/"+name, moves[name])
	}
}
