package directory

import (
	"context"
	"time"

	"github.com/coopnet/coopnet/directory/search"
)

// Listing is what a directory shows of one coop, here or a peer's, kept in
// memory beside the search index so that a results page needs no query.
type Listing struct {
	ID             int64
	Slug           string
	Name           string
	Summary        string // plain text, cut to about 300 characters
	Domain         string // "" for a coop hosted here
	ActorID        string // "" for a coop hosted here
	URL            string // its profile page on its home node; "" for a coop hosted here
	IconURL        string
	HasLogo        bool // a coop hosted here has a logo at /coops/{slug}/logo
	City           string
	Region         string
	Country        string
	RegionsServed  []string
	RemoteFriendly bool
	Languages      []string
	Capacity       Capacity
	Skills         []string
	Services       []ListingService
	UpdatedAt      time.Time
	// UnreachableSince is when refetching the profile of a peer's coop began
	// to fail; Stale says it has failed for longer than the grace period.
	UnreachableSince *time.Time
	Stale            bool
}

// Local reports whether the coop is hosted on this node.
func (l Listing) Local() bool { return l.Domain == "" }

// ListingService is one active service of a Listing.
type ListingService struct {
	ID       int64
	Title    string
	Category string
	Tags     []string
	Pricing  string
	URL      string // a peer's service page; "" for a service hosted here
}

// SearchHit is one result: the coop and why it matched.
type SearchHit struct {
	Listing
	Score   float64
	Matched []search.Match
}

// SearchResults is one page of results.
type SearchResults struct {
	Total   int
	Hits    []SearchHit
	Relaxed bool
	Facets  search.Facets
}

// Directory is the searchable directory: every discoverable coop this node
// knows, indexed in memory and kept current from the database's change feed,
// so that several processes sharing one PostgreSQL all see every change.
type Directory struct {
	store *Store
}

// NewDirectory returns a directory over store; Start builds and follows it.
func NewDirectory(store *Store) *Directory { return &Directory{store: store} }

// Start builds the index from the database, then follows the change feed
// until ctx ends.
func (d *Directory) Start(ctx context.Context) error { panic("directory: Start not written yet") }

// Sync applies every change recorded so far; Start calls it on a timer and
// on every change made through this process.
func (d *Directory) Sync(ctx context.Context) error { panic("directory: Sync not written yet") }

// Search runs q over the listed coops.
func (d *Directory) Search(q search.Query) (SearchResults, error) {
	panic("directory: Search not written yet")
}

// Listings returns every listed coop, by name, for exports.
func (d *Directory) Listings() []Listing { panic("directory: Listings not written yet") }

// Stats reports the index's size.
func (d *Directory) Stats() search.Stats { panic("directory: Stats not written yet") }
