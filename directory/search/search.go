// Package search is the directory's full-text index: an in-memory inverted
// index over coops and their services, ranked with BM25, with filters and
// facets as bitmaps. The database stays the source of truth; the index is
// built from it at start and kept current by the directory package.
//
// One Doc is one coop with its services. Its text is folded (lower case, no
// accents), stripped of stopwords and stemmed in the doc's language; a query
// word is looked up under its stem in every supported language, since the
// query's language is unknown. Every word must match, else any (Relaxed).
// Per term the index keeps postings (ordinal, field-weighted frequency),
// and per doc its terms in order, for phrases and for explaining matches.
// Filters and facets are roaring bitmaps of ordinals.
//
// The files: analyze.go (words to terms), doc.go (what of a Doc is indexed),
// index.go and compact.go (storage and updates), query.go (query text),
// words.go (query words resolved, kept until the index changes), exec.go
// (matching and ranking), filters.go, facets.go, explain.go (Hit.Matched),
// baseline.go (a naive index for benchmarks).
package search

// Doc is one coop as the index sees it: its profile and its active services.
type Doc struct {
	ID             int64 // the coop's id in the database
	Name           string
	Summary        string
	Skills         []string
	Languages      []string // BCP 47 tags; the first supported one picks the stemmer
	Country        string   // ISO 3166-1 alpha-2, upper case
	Region         string
	City           string
	RegionsServed  []string
	RemoteFriendly bool
	Capacity       string // open, limited or closed
	Services       []Service
}

// Service is one service of a Doc.
type Service struct {
	ID          int64
	Title       string
	Description string
	Category    string
	Tags        []string
	Pricing     string
}

// Query is one search: free text and filters. Within a filter the values are
// alternatives (any of); different filters must all hold.
type Query struct {
	Text           string   // words and "quoted phrases"
	Categories     []string // a service category
	Skills         []string // a coop skill or a service tag
	Countries      []string
	Regions        []string // a region served, or the coop's own region
	Languages      []string
	Pricing        []string // a service pricing model
	RemoteFriendly bool
	AcceptingWork  bool // capacity open or limited
	Offset, Limit  int  // Limit 0 means 20; at most 100
	Facets         bool // count facets over the matching docs
}

// Results are one page of hits and the totals behind them.
type Results struct {
	Total int   // docs matching, all pages
	Hits  []Hit // best first
	// Relaxed is set when no doc matched every word, so the hits match some.
	Relaxed bool
	Facets  Facets
}

// Hit is one matching coop and why it matched.
type Hit struct {
	ID      int64
	Score   float64
	Matched []Match
}

// Match is a part of a coop that a query word matched, for showing why.
type Match struct {
	Field     string // "name", "summary", "skill", "service", "tag", "language", "region"
	Text      string // the matching text as written, e.g. a service title or tag
	ServiceID int64  // for "service" and "tag" matches
}

// Facets count the matching docs per filter value (filters other than the
// facet's own applied), most first.
type Facets struct {
	Categories []FacetCount
	Countries  []FacetCount
	Languages  []FacetCount
	Pricing    []FacetCount
}

// FacetCount is how many docs have a value.
type FacetCount struct {
	Value string
	Count int
}

// Stats describe the index's size.
type Stats struct {
	Docs  int
	Terms int
	Bytes int64 // estimated memory held
}

// QueryError is a query the index cannot run, with a message for the person
// who typed it.
type QueryError struct{ Msg string }

func (e *QueryError) Error() string { return "search: " + e.Msg }
