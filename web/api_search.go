package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/internal/validate"
)

// The directory as JSON: search (/api/v1/search) and the whole directory
// (/api/v1/directory, /directory.json, /directory.csv). No token is needed:
// it is what the public /directory page shows.

// searchJSON is one page of results: the answer's shape. apiSearch writes
// it by hand (api_search_json.go); the tests check that the bytes are what
// encoding/json makes of this struct.
type searchJSON struct {
	Total   int          `json:"total"`
	Page    int          `json:"page"`
	PerPage int          `json:"per_page"`
	Offset  int          `json:"offset"`
	Relaxed bool         `json:"relaxed"`
	Results []resultJSON `json:"results"`
	// Facets are counted only when asked for (facets=true): counting them
	// is a sixth of a search's cost, and most API clients never read them.
	Facets *facetsJSON `json:"facets,omitempty"`
}

// resultJSON is one coop in the results: what the listing says, then why
// it matched.
type resultJSON struct {
	listingJSON
	Matched []matchJSON `json:"matched"`
	Score   float64     `json:"score"`
}

// listingJSON is the part of a result that depends only on the listing,
// which apiSearch caches.
type listingJSON struct {
	Name             string        `json:"name"`
	Slug             string        `json:"slug"`
	Handle           string        `json:"handle"`
	Local            bool          `json:"local"`
	ProfileURL       string        `json:"profile_url"`
	RequestURL       string        `json:"request_url"`
	Summary          string        `json:"summary"`
	City             string        `json:"city"`
	Region           string        `json:"region"`
	Country          string        `json:"country"`
	Languages        []string      `json:"languages"`
	Capacity         string        `json:"capacity"`
	RemoteFriendly   bool          `json:"remote_friendly"`
	Stale            bool          `json:"stale"`
	UnreachableSince *time.Time    `json:"unreachable_since"`
	Services         []serviceJSON `json:"services"`
}

type serviceJSON struct {
	Title    string   `json:"title"`
	Category string   `json:"category"`
	Tags     []string `json:"tags"`
	Pricing  string   `json:"pricing"`
	URL      string   `json:"url"`
}

type matchJSON struct {
	Field string `json:"field"`
	Text  string `json:"text"`
}

type facetsJSON struct {
	Categories []facetJSON `json:"categories"`
	Countries  []facetJSON `json:"countries"`
	Languages  []facetJSON `json:"languages"`
	Pricing    []facetJSON `json:"pricing"`
}

type facetJSON struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Count int    `json:"count"`
}

// apiSearch runs a search with the parameters of the /directory page, and
// facets=true to count the facets too.
func (s *Server) apiSearch(c echo.Context) error {
	q, errs := parseDirectoryQuery(c.QueryParams())
	q.Facets = boolParam(&errs, c.QueryParams(), "facets")
	if err := errs.Err(); err != nil {
		return err
	}
	res, err := s.searchDirectory(q)
	if err != nil {
		return err
	}
	var facets *facetsJSON
	if q.Facets {
		facets = newFacetsJSON(res.Facets)
	}
	publicCache(c, searchMaxAge)
	return s.writeSearchJSON(c, q, res, facets)
}

// newFacetsJSON gives the counted values their words.
func newFacetsJSON(f search.Facets) *facetsJSON {
	return &facetsJSON{
		Categories: facetList(f.Categories, facetKinds[0].label), Pricing: facetList(f.Pricing, facetKinds[1].label),
		Countries: facetList(f.Countries, facetKinds[2].label), Languages: facetList(f.Languages, facetKinds[3].label),
	}
}

// facetKind is a filter whose values are counted: its URL parameter, and
// where its counts, its selected values and its values' words come from.
type facetKind struct {
	param, legend string
	fixed         []directory.Option // every value, shown even when none matches
	label         func(string) string
	counts        func(search.Facets) []search.FacetCount
	selected      func(directoryQuery) []string
}

var facetKinds = []facetKind{
	{"category", "Category", directory.Categories, optionLabel(directory.Categories),
		func(f search.Facets) []search.FacetCount { return f.Categories },
		func(q directoryQuery) []string { return q.Categories }},
	{"pricing", "Pricing", directory.PricingModels, optionLabel(directory.PricingModels),
		func(f search.Facets) []search.FacetCount { return f.Pricing },
		func(q directoryQuery) []string { return q.Pricing }},
	{"country", "Country", nil, directory.CountryName,
		func(f search.Facets) []search.FacetCount { return f.Countries },
		func(q directoryQuery) []string { return q.Countries }},
	{"language", "Language", nil, func(tag string) string { return languageNames([]string{tag})[0] },
		func(f search.Facets) []search.FacetCount { return f.Languages },
		func(q directoryQuery) []string { return q.Languages }},
}

func optionLabel(opts []directory.Option) func(string) string {
	return func(v string) string { return directory.Label(opts, v) }
}

// facetList gives each counted value its words.
func facetList(counts []search.FacetCount, label func(string) string) []facetJSON {
	out := make([]facetJSON, 0, len(counts))
	for _, fc := range counts {
		out = append(out, facetJSON{Value: fc.Value, Label: label(fc.Value), Count: fc.Count})
	}
	return out
}

// listingHandle is a coop's fediverse handle: slug@host of its home node.
func (s *Server) listingHandle(l directory.Listing) string {
	return l.Slug + "@" + s.handleHost(&l)
}

// handleHost is the host part of a coop's handle.
func (s *Server) handleHost(l *directory.Listing) string {
	if l.Local() {
		return s.cfg.BaseURL.Host
	}
	return l.Domain
}

// serviceURL is a service's page: here (under base) for the node's own
// coops, on the coop's home node for peers'.
func serviceURL(l *directory.Listing, svc *directory.ListingService, base string) string {
	if l.Local() {
		return base + "/coops/" + l.Slug + "/services/" + strconv.FormatInt(svc.ID, 10)
	}
	return svc.URL
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// exportJSON is the whole directory.
type exportJSON struct {
	GeneratedAt time.Time        `json:"generated_at"`
	Total       int              `json:"total"`
	Coops       []exportCoopJSON `json:"coops"`
}

// exportCoopJSON is one coop of the directory export.
type exportCoopJSON struct {
	Name           string              `json:"name"`
	Handle         string              `json:"handle"`
	Local          bool                `json:"local"`
	ProfileURL     string              `json:"profile_url"`
	Country        string              `json:"country"`
	Region         string              `json:"region"`
	City           string              `json:"city"`
	Languages      []string            `json:"languages"`
	Capacity       string              `json:"capacity"`
	RemoteFriendly bool                `json:"remote_friendly"`
	Skills         []string            `json:"skills"`
	Services       []exportServiceJSON `json:"services"`
	Stale          bool                `json:"stale"`
}

type exportServiceJSON struct {
	Title    string `json:"title"`
	Category string `json:"category"`
}

// directoryExport is every listed coop, by name.
func (s *Server) directoryExport() (exportJSON, error) {
	if s.cfg.Directory == nil {
		return exportJSON{}, echo.NewHTTPError(http.StatusServiceUnavailable, "the directory is not available on this node")
	}
	listings := s.cfg.Directory.Listings()
	out := exportJSON{GeneratedAt: time.Now().UTC().Truncate(time.Second), Total: len(listings),
		Coops: make([]exportCoopJSON, 0, len(listings))}
	for _, l := range listings {
		e := exportCoopJSON{
			Name: l.Name, Handle: s.listingHandle(l), Local: l.Local(), Country: l.Country, Region: l.Region,
			City: l.City, Languages: orEmpty(l.Languages), Capacity: string(l.Capacity),
			RemoteFriendly: l.RemoteFriendly, Skills: orEmpty(l.Skills), Stale: l.Stale,
			Services: make([]exportServiceJSON, 0, len(l.Services)),
		}
		e.ProfileURL, _ = listingLinks(l, s.apiAbsURL(""))
		for _, svc := range l.Services {
			e.Services = append(e.Services, exportServiceJSON{Title: svc.Title, Category: svc.Category})
		}
		out.Coops = append(out.Coops, e)
	}
	return out, nil
}

// apiDirectory serves the whole directory as JSON.
func (s *Server) apiDirectory(c echo.Context) error {
	out, err := s.directoryExport()
	if err != nil {
		return err
	}
	publicCache(c, exportMaxAge)
	return c.JSON(http.StatusOK, out)
}

// directoryJSON is the same export as a file to download.
func (s *Server) directoryJSON(c echo.Context) error {
	out, err := s.directoryExport()
	if err != nil {
		return err
	}
	publicCache(c, exportMaxAge)
	attachment(c, "json", out.GeneratedAt)
	return c.JSON(http.StatusOK, out)
}

// csvHeader names the columns of the CSV export.
var csvHeader = []string{"name", "handle", "profile_url", "country", "region", "city", "languages", "capacity",
	"remote_friendly", "skills", "services", "service_categories", "stale"}

// directoryCSV serves the export as CSV, for spreadsheets. Lists are joined
// with "; ".
func (s *Server) directoryCSV(c echo.Context) error {
	out, err := s.directoryExport()
	if err != nil {
		return err
	}
	publicCache(c, exportMaxAge)
	attachment(c, "csv", out.GeneratedAt)
	c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write(csvHeader)
	for _, e := range out.Coops {
		var titles, cats []string
		for _, svc := range e.Services {
			titles = append(titles, svc.Title)
			cats = append(cats, svc.Category)
		}
		row := []string{e.Name, e.Handle, e.ProfileURL, e.Country, e.Region, e.City, strings.Join(e.Languages, "; "),
			e.Capacity, strconv.FormatBool(e.RemoteFriendly), strings.Join(e.Skills, "; "), strings.Join(titles, "; "),
			strings.Join(validate.Dedupe(cats), "; "), strconv.FormatBool(e.Stale)}
		for i := range row {
			row[i] = csvSafe(row[i])
		}
		_ = w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		// The status is sent: all that is left is to say so in the log.
		s.log.Warn("write directory csv", "err", err)
	}
	return nil
}

// csvSafe defuses formula injection: a spreadsheet runs a cell that starts
// with = + - or @ (or a tab or carriage return before one) as a formula, and
// the text comes from coops, here and on peers. A leading quote makes it text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// attachment makes the response a download named after the day.
func attachment(c echo.Context, ext string, at time.Time) {
	c.Response().Header().Set(echo.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="coopnet-directory-%s.%s"`, at.Format("2006-01-02"), ext))
}
