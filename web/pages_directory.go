package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/internal/validate"
)

// The public directory: every coop this node can see, its own and its peers',
// searchable by anyone without an account. The page (/directory), the JSON
// API (/api/v1/search), OpenSearch clients and the exports read the same URL
// parameters, parsed once by parseDirectoryQuery.

const (
	directoryPerPage = 20
	maxDirectoryPage = 1000
	maxSearchLimit   = 100
	maxFilterValues  = 20
	// searchMaxAge and exportMaxAge are how long results may be cached: the
	// directory changes as coops edit their profiles, so not for long.
	searchMaxAge = 30
	exportMaxAge = 300
)

// directoryQuery is a directory search read from a URL.
type directoryQuery struct {
	search.Query
	Page    int // 1-based; with an offset, the page the offset falls in
	PerPage int
}

// directoryParams are the URL parameters of a search, in the order their
// errors are told.
var directoryParams = []struct{ name, label string }{
	{"q", "Search words"},
	{"category", "Category"},
	{"pricing", "Pricing"},
	{"country", "Country"},
	{"region", "Region"},
	{"language", "Language"},
	{"skill", "Skill"},
	{"remote", "Remote-friendly"},
	{"accepting", "Accepting new work"},
	{"page", "Page"},
	{"limit", "Results per page"},
	{"offset", "Offset"},
}

// parseDirectoryQuery reads the search parameters. Filters take several
// values, repeated (country=DE&country=AT) or separated by commas; within a
// filter any value matches, and all filters must hold. It returns what it
// could read even when some values are wrong, so that a form can show them
// again beside the messages. Facets are counted only if the caller sets
// q.Facets: the page always shows them, the API only on request.
func parseDirectoryQuery(v url.Values) (directoryQuery, validate.Errors) {
	var e validate.Errors
	q := directoryQuery{Page: 1, PerPage: directoryPerPage}
	q.Text = strings.TrimSpace(v.Get("q"))
	validate.CleanText(&e, "q", q.Text)

	q.Categories = oneOfParam(&e, v, "category", "a category", directory.Categories)
	q.Pricing = oneOfParam(&e, v, "pricing", "a pricing model", directory.PricingModels)
	for _, c := range listParam(v, "country") {
		q.Countries = append(q.Countries, validate.Country(&e, "country", c))
	}
	q.Languages = listParam(v, "language")
	if langs := validate.Languages(&e, "language", q.Languages); len(langs) == len(q.Languages) {
		q.Languages = langs
	}
	q.Regions = validate.Tags(&e, "region", listParam(v, "region"), maxFilterValues, 100)
	q.Skills = validate.Tags(&e, "skill", listParam(v, "skill"), maxFilterValues, 100)
	for name, f := range map[string][]string{"category": q.Categories, "pricing": q.Pricing, "country": q.Countries, "language": q.Languages} {
		if len(f) > maxFilterValues {
			e.Add(name, fmt.Sprintf("at most %d entries", maxFilterValues))
		}
	}
	q.RemoteFriendly = boolParam(&e, v, "remote")
	q.AcceptingWork = boolParam(&e, v, "accepting")

	q.PerPage = intParam(&e, v, "limit", directoryPerPage, 1, maxSearchLimit)
	q.Page = intParam(&e, v, "page", 1, 1, maxDirectoryPage)
	q.Limit, q.Offset = q.PerPage, (q.Page-1)*q.PerPage
	if v.Has("offset") {
		if v.Has("page") {
			e.Add("offset", "give page or offset, not both")
		}
		q.Offset = intParam(&e, v, "offset", 0, 0, maxDirectoryPage*maxSearchLimit)
		q.Page = q.Offset/q.PerPage + 1
	}
	return q, e
}

// listParam returns the values of a repeated parameter, each also split at
// commas, trimmed and without duplicates. No filter value holds a comma:
// profile forms split skills and regions at commas too.
func listParam(v url.Values, name string) []string {
	var out []string
	for _, s := range v[name] {
		out = append(out, strings.Split(s, ",")...)
	}
	return validate.Dedupe(out)
}

// oneOfParam reads a filter whose values come from a fixed list.
func oneOfParam(e *validate.Errors, v url.Values, name, what string, opts []directory.Option) []string {
	values := listParam(v, name)
	for _, s := range values {
		if directory.Label(opts, s) == s {
			allowed := make([]string, len(opts))
			for i, o := range opts {
				allowed[i] = o.Value
			}
			e.Add(name, fmt.Sprintf("%q is not %s; use one of: %s", s, what, strings.Join(allowed, ", ")))
		}
	}
	return values
}

// boolParam reads a yes-or-no filter: a checkbox sends "on", API clients
// send true or 1; absent or empty means no.
func boolParam(e *validate.Errors, v url.Values, name string) bool {
	switch strings.ToLower(strings.TrimSpace(v.Get(name))) {
	case "", "0", "false", "off", "no":
		return false
	case "1", "true", "on", "yes":
		return true
	}
	e.Add(name, "must be true or false")
	return false
}

// intParam reads a whole number from lo to hi, or def when absent.
func intParam(e *validate.Errors, v url.Values, name string, def, lo, hi int) int {
	s := strings.TrimSpace(v.Get(name))
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		e.Add(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

// values is the query as URL parameters, in canonical form, for links to
// other pages of the same results.
func (q directoryQuery) values() url.Values {
	v := url.Values{}
	set := func(name string, values []string) {
		if len(values) > 0 {
			v[name] = values
		}
	}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	set("category", q.Categories)
	set("pricing", q.Pricing)
	set("country", q.Countries)
	set("region", q.Regions)
	set("language", q.Languages)
	set("skill", q.Skills)
	if q.RemoteFriendly {
		v.Set("remote", "on")
	}
	if q.AcceptingWork {
		v.Set("accepting", "on")
	}
	if q.PerPage != directoryPerPage {
		v.Set("limit", strconv.Itoa(q.PerPage))
	}
	return v
}

// searchDirectory runs q. A query the index cannot run (unbalanced quotes,
// too many words) is the searcher's mistake: a *validate.Error on "q".
func (s *Server) searchDirectory(q directoryQuery) (directory.SearchResults, error) {
	if s.cfg.Directory == nil {
		return directory.SearchResults{}, echo.NewHTTPError(http.StatusServiceUnavailable, "the directory is not available on this node")
	}
	res, err := s.cfg.Directory.Search(q.Query)
	var qe *search.QueryError
	if errors.As(err, &qe) {
		return res, &validate.Error{Fields: validate.Errors{"q": qe.Msg}}
	}
	if err != nil {
		return res, fmt.Errorf("web: search the directory: %w", err)
	}
	return res, nil
}

// publicCache lets shared caches keep a response that is the same for every
// visitor for maxAge seconds. A page for someone with a session cookie shows
// their menu, so only their browser may keep it. An anonymous page carries no
// form that posts, so it drops the CSRF cookie the middleware sets: a shared
// cache must not hand one visitor's cookie to the next.
func publicCache(c echo.Context, maxAge int) {
	h := c.Response().Header()
	if _, err := c.Cookie(sessionCookie); err == nil && !isAPI(c) {
		h.Set(echo.HeaderCacheControl, "private, max-age="+strconv.Itoa(maxAge))
		return
	}
	h.Del(echo.HeaderSetCookie)
	h.Set(echo.HeaderCacheControl, "public, max-age="+strconv.Itoa(maxAge))
}

// directoryPage is the search form and one page of results.
type directoryPage struct {
	Title     string
	Q         string
	Skill     string // the skill filter's values, for its text box
	Region    string
	Remote    bool
	Accepting bool
	Filtering bool // a filter is set: the filters start unfolded
	Facets    []facetGroup
	Errors    []string
	Invalid   map[string]bool

	Searched bool // there are results to show (no errors)
	Heading  string
	Relaxed  bool
	Results  []directoryResult
	Start    int // the number of the first result
	Page     int
	Pages    int
	Prev     string
	Next     string
	Clear    string // the same words without filters
}

// directoryResult is one coop in the results, with its links and words.
type directoryResult struct {
	directory.Listing
	ProfileURL  string
	RequestURL  string
	NetworkURL  string // a peer's coop: its page on this node
	Location    string
	CapacityIn  string // the capacity in words
	LangNames   []string
	Summary     string // shortened: it hides the Listing's
	Matched     []directoryMatch
	StaleSince  string
	StaleSinceT string // the same, for <time datetime>
}

// directoryMatch is why a coop matched, for people.
type directoryMatch struct{ Text, Kind string }

// directorySearch serves /directory: without words it lists every coop.
func (s *Server) directorySearch(c echo.Context) error {
	q, errs := parseDirectoryQuery(c.QueryParams())
	q.Facets = true // the filters' counts
	p := directoryPage{
		Title: "Find a cooperative", Q: q.Text, Skill: strings.Join(q.Skills, ", "), Region: strings.Join(q.Regions, ", "),
		Remote: q.RemoteFriendly, Accepting: q.AcceptingWork, Page: q.Page, Start: q.Offset + 1,
		Filtering: len(q.Categories)+len(q.Pricing)+len(q.Countries)+len(q.Languages)+len(q.Regions)+len(q.Skills) > 0 ||
			q.RemoteFriendly || q.AcceptingWork,
	}
	if q.Text != "" {
		p.Title = q.Text + ": directory search"
	}
	var res directory.SearchResults
	if len(errs) == 0 {
		var err error
		res, err = s.searchDirectory(q)
		var ve *validate.Error
		if errors.As(err, &ve) {
			errs = ve.Fields
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		p.Errors, p.Invalid, p.Filtering = errorList(errs), fieldSet(errs), true
		p.Facets = facetGroups(q, nil)
		return s.render(c, http.StatusBadRequest, "directory", p)
	}
	p.Searched, p.Relaxed, p.Facets = true, res.Relaxed, facetGroups(q, &res.Facets)
	for _, h := range res.Hits {
		p.Results = append(p.Results, s.directoryResult(h))
	}
	s.paginate(&p, q, res.Total)
	publicCache(c, searchMaxAge)
	return s.render(c, http.StatusOK, "directory", p)
}

// errorList turns field errors into sentences, in the order of the form.
func errorList(e validate.Errors) []string {
	var out []string
	for _, p := range directoryParams {
		if msg, ok := e[p.name]; ok {
			out = append(out, p.label+": "+msg)
		}
	}
	return out
}

// paginate fills the heading and the links to the pages around this one.
func (s *Server) paginate(p *directoryPage, q directoryQuery, total int) {
	p.Pages = (total + q.PerPage - 1) / q.PerPage
	switch {
	case total == 0:
		p.Heading = "No coop matches your search"
	case total == 1:
		p.Heading = "1 coop found"
	default:
		p.Heading = strconv.Itoa(total) + " coops found"
	}
	link := func(page int) string {
		v := q.values()
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		if len(v) == 0 {
			return "/directory"
		}
		return "/directory?" + v.Encode()
	}
	if q.Page > 1 {
		p.Prev = link(min(q.Page-1, max(p.Pages, 1)))
	}
	if q.Page < p.Pages {
		p.Next = link(q.Page + 1)
	}
	if p.Filtering {
		p.Clear = "/directory"
		if q.Text != "" {
			p.Clear += "?" + url.Values{"q": {q.Text}}.Encode()
		}
	}
}

// directoryResult puts a hit in words, with links that work from this node.
func (s *Server) directoryResult(h directory.SearchHit) directoryResult {
	l := *h.Listing
	r := directoryResult{
		Listing: l, Location: listingLocation(l), CapacityIn: directory.Label(directory.Capacities, string(l.Capacity)),
		LangNames: languageNames(l.Languages), Summary: excerpt(l.Summary, 240),
	}
	r.ProfileURL, r.RequestURL = listingLinks(l, "")
	if !l.Local() {
		r.NetworkURL = "/network/" + strconv.FormatInt(l.ID, 10)
	}
	if l.Stale && l.UnreachableSince != nil {
		r.StaleSince = l.UnreachableSince.UTC().Format("2 January 2006")
		r.StaleSinceT = l.UnreachableSince.UTC().Format(time.RFC3339)
	}
	seen := map[directoryMatch]bool{}
	for _, m := range h.Matched {
		kind := matchKinds[m.Field]
		dm := directoryMatch{Text: m.Text, Kind: kind}
		if kind == "" || m.Text == "" || seen[dm] {
			continue // the name and summary are on show already
		}
		seen[dm] = true
		r.Matched = append(r.Matched, dm)
	}
	return r
}

// matchKinds name the parts of a coop a match can be in, for people.
var matchKinds = map[string]string{
	"service": "service", "tag": "tag", "skill": "skill", "language": "language", "region": "region",
}

// listingLinks returns a coop's profile and its work-request form: on this
// node for its own coops (under base, "" for paths), on the coop's home node
// for peers'.
func listingLinks(l directory.Listing, base string) (profile, request string) {
	profile, page := listingProfile(&l, base)
	return profile, page + requestAnchor
}

// requestAnchor is the work-request form on a coop's profile page.
const requestAnchor = "#request-work"

// listingProfile returns a coop's profile, as listingLinks does, and the
// page it is on (the profile without a fragment), where the request form is.
func listingProfile(l *directory.Listing, base string) (profile, page string) {
	if l.Local() {
		profile = base + "/coops/" + l.Slug
		return profile, profile
	}
	profile = l.URL
	if profile == "" {
		profile = l.ActorID // an http(s) URL on the coop's host, checked when stored
	}
	page, _, _ = strings.Cut(profile, "#")
	return profile, page
}

// listingLocation is where a coop is, in words.
func listingLocation(l directory.Listing) string {
	return directory.Coop{City: l.City, Region: l.Region, Country: l.Country}.Location()
}

// languageNames puts language tags in English words.
func languageNames(tags []string) []string {
	return directory.Coop{Languages: tags}.LanguageNames()
}

// fieldSet is the set of fields with an error, to mark them in the form.
func fieldSet(e validate.Errors) map[string]bool {
	out := map[string]bool{}
	for k := range e {
		out[k] = true
	}
	return out
}

// facetGroup is a filter's checkboxes.
type facetGroup struct {
	Param, Legend string
	Options       []facetOption
}

// facetOption is one checkbox: a value, its words and how many coops have it.
type facetOption struct {
	ID, Value, Label string
	Count            int
	Counted          bool // f was given: Count is known
	Checked          bool
}

// facetGroups builds the filters' checkboxes: the values that some result
// would have with that filter changed, in the fixed lists' order or most
// first. A selected value is always shown, so that it can be unticked. f is
// nil when the search could not run: then every value of a fixed list is
// shown, uncounted.
func facetGroups(q directoryQuery, f *search.Facets) []facetGroup {
	groups := make([]facetGroup, 0, len(facetKinds))
	for _, k := range facetKinds {
		g := facetGroup{Param: k.param, Legend: k.legend}
		counts := map[string]int{}
		var order []string
		for _, o := range k.fixed {
			order = append(order, o.Value)
		}
		if f != nil {
			for _, fc := range k.counts(*f) {
				counts[fc.Value] = fc.Count
				if k.fixed == nil {
					order = append(order, fc.Value)
				}
			}
		}
		checked := map[string]bool{}
		for _, v := range k.selected(q) {
			checked[strings.ToLower(v)] = true
			if k.fixed == nil && !containsFold(order, v) {
				order = append(order, v)
			}
		}
		for i, v := range order {
			o := facetOption{
				ID: k.param + "-" + strconv.Itoa(i), Value: v, Label: k.label(v),
				Count: counts[v], Counted: f != nil, Checked: checked[strings.ToLower(v)],
			}
			if o.Counted && o.Count == 0 && !o.Checked {
				continue // ticking it would find nothing
			}
			g.Options = append(g.Options, o)
		}
		groups = append(groups, g)
	}
	return groups
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
