package directory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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
	// PlainText says that every string of the listing is valid UTF-8
	// without control characters, quotes, backslashes, <, > and &, nor
	// U+2028 or U+2029: a JSON string (as encoding/json writes one) holds
	// each as it is, without escapes. Set when the directory loads it.
	PlainText bool
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

// SearchHit is one result: the coop and why it matched. The listing is the
// directory's own, shared by every search that finds it: never change it.
type SearchHit struct {
	*Listing
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

// StaleAfter is how long a peer's coop may stay unreachable before its
// listing is marked stale.
const StaleAfter = 72 * time.Hour

// How the Directory follows the feed: on a timer, and soon after a wake-up
// from a write in this process. The delay after a wake-up lets the commit
// that sent it land (the inbox wakes before its batch commits) and lets a
// burst of changes share one Sync. The pause between two Syncs is at least
// minSyncGap and syncCostFactor times the last one's duration, so that a
// busy inbox (each Sync reloading coops with many services) leaves the
// Directory a bounded share of the CPU.
const (
	syncInterval   = 250 * time.Millisecond
	wakeDelay      = 20 * time.Millisecond
	minSyncGap     = 100 * time.Millisecond
	syncCostFactor = 4
)

// Directory is the searchable directory: every discoverable coop this node
// knows, indexed in memory and kept current from the database's change feed,
// so that several processes sharing one PostgreSQL all see every change.
//
// A coop that is not discoverable is never listed nor indexed, hosted here
// or on a peer: being listed is the coop's choice.
type Directory struct {
	// StaleAfter is how long a peer's coop may stay unreachable before it
	// is shown as stale. Set it before Start.
	StaleAfter time.Duration
	// Logger receives the build's summary and the feed's errors; nil means
	// slog.Default(). Set it before Start.
	Logger *slog.Logger

	store *Store

	mu       sync.RWMutex // guards index (the pointer) and listings
	index    *search.Index
	listings map[int64]listed

	syncMu    sync.Mutex // one Build or Sync at a time; guards the fields below
	built     bool
	cursor    feedCursor
	lastPrune time.Time
}

// listed is a Listing and its name's sort key.
type listed struct {
	*Listing // never changed once listed: a new version replaces it
	key      string
}

// NewDirectory returns a directory over store; Start builds and follows it.
// Until then it is empty, and a Sync builds it.
func NewDirectory(store *Store) *Directory {
	return &Directory{StaleAfter: StaleAfter, store: store, index: search.New(), listings: map[int64]listed{}}
}

func (d *Directory) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Start builds the index from the database, then follows the change feed
// until ctx ends. Call it once.
func (d *Directory) Start(ctx context.Context) error {
	if err := d.Build(ctx); err != nil {
		return err
	}
	go d.follow(ctx)
	return nil
}

// follow calls Sync on a timer and when the store wakes it, until ctx ends.
func (d *Directory) follow(ctx context.Context) {
	tick := time.NewTicker(syncInterval)
	defer tick.Stop()
	var last time.Time
	var took time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.store.changed:
		}
		pause := max(wakeDelay, max(minSyncGap, syncCostFactor*took)-time.Since(last))
		wait := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		began := time.Now()
		if err := d.Sync(ctx); err != nil && ctx.Err() == nil {
			d.log().Warn("directory: sync failed", "error", err)
		}
		last = time.Now()
		took = last.Sub(began)
	}
}

// Build loads every discoverable coop from the database into a new index
// and places the change feed's cursor, without following the feed: Start
// does that; tests and tools that want a directory at once call Build.
func (d *Directory) Build(ctx context.Context) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	return d.build(ctx)
}

func (d *Directory) build(ctx context.Context) error {
	began := time.Now()
	// The cursor is placed first: whatever changes while the coops load is
	// read again from the feed.
	cursor := feedCursor{gapTimeout: d.cursor.gapTimeout}
	if err := cursor.start(ctx, d.store.db, began); err != nil {
		return err
	}
	ix := search.New()
	all, err := d.store.indexAll(ctx, ix)
	if err != nil {
		return err
	}
	if all.refused > 0 {
		d.log().Warn("directory: coops left out of the index", "coops", all.refused, "error", all.err)
	}
	d.mu.Lock()
	d.index, d.listings = ix, all.listings
	d.mu.Unlock()
	d.cursor, d.built, d.lastPrune = cursor, true, began
	stats := ix.Stats()
	d.log().Info("directory index built", "docs", stats.Docs, "services", all.services,
		"took", time.Since(began).Round(time.Millisecond), "index_bytes", stats.Bytes)
	return nil
}

// Sync applies every change recorded so far; Start calls it on a timer and
// on every change made through this process. On a directory not built yet
// it builds it.
func (d *Directory) Sync(ctx context.Context) error {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	if !d.built {
		return d.build(ctx)
	}
	for {
		r, err := d.cursor.read(ctx, d.store.db)
		if err != nil {
			return err
		}
		if !r.empty() {
			if err := d.reload(ctx, r.coopIDs()); err != nil {
				return err
			}
		}
		if n := d.cursor.advance(r, time.Now()); n > 0 {
			d.log().Debug("directory: changes given up waiting for", "changes", n)
		}
		if len(r.next) < feedBatch {
			break
		}
	}
	if now := time.Now(); now.Sub(d.lastPrune) >= pruneEvery {
		d.lastPrune = now
		if _, err := d.store.pruneChanges(ctx, now); err != nil {
			d.log().Warn("directory: pruning the change feed failed", "error", err)
		}
	}
	return nil
}

// reload reads the coops with those ids again and updates the index: a coop
// gone or no longer discoverable leaves it.
func (d *Directory) reload(ctx context.Context, ids []int64) error {
	coops, services, err := d.store.loadListed(ctx, ids)
	if err != nil {
		return err
	}
	found := make(map[int64]bool, len(coops))
	for _, c := range coops {
		found[c.ID] = true
		if !c.Discoverable {
			d.remove(c.ID)
			continue
		}
		l, doc := c.listing(services[c.ID])
		if err := d.index.PutOwned(doc); err != nil {
			d.log().Warn("directory: coop left out of the index", "coop", c.ID, "error", err)
			d.remove(c.ID)
			continue
		}
		d.mu.Lock()
		d.listings[c.ID] = listed{Listing: &l, key: foldName(l.Name)}
		d.mu.Unlock()
	}
	for _, id := range ids {
		if !found[id] {
			d.remove(id)
		}
	}
	return nil
}

// remove takes the coop out of the index, then out of the listings: a hit
// always finds its listing, or is left out of the results.
func (d *Directory) remove(id int64) {
	d.index.Delete(id)
	d.mu.Lock()
	delete(d.listings, id)
	d.mu.Unlock()
}

// view returns l as shown now: l itself, or a copy marked stale. Searches
// share the listings rather than copy one per hit, which was a fifth of
// the memory a search allocated.
func (d *Directory) view(l *Listing, now time.Time) *Listing {
	if l.UnreachableSince == nil || now.Sub(*l.UnreachableSince) <= d.StaleAfter {
		return l
	}
	v := *l
	v.Stale = true
	return &v
}

// Search runs q over the listed coops. A *search.QueryError reports a query
// that cannot run.
func (d *Directory) Search(q search.Query) (SearchResults, error) {
	d.mu.RLock()
	ix := d.index
	d.mu.RUnlock()
	res, err := ix.Search(q)
	if err != nil {
		if qe := (*search.QueryError)(nil); errors.As(err, &qe) {
			return SearchResults{}, err
		}
		return SearchResults{}, fmt.Errorf("directory: search: %w", err)
	}
	out := SearchResults{Total: res.Total, Relaxed: res.Relaxed, Facets: res.Facets, Hits: make([]SearchHit, 0, len(res.Hits))}
	now := time.Now()
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, h := range res.Hits {
		// A coop removed between the search and here is left out.
		if e, ok := d.listings[h.ID]; ok {
			out.Hits = append(out.Hits, SearchHit{Listing: d.view(e.Listing, now), Score: h.Score, Matched: h.Matched})
		}
	}
	return out, nil
}

// Listings returns every listed coop, by name, for exports.
func (d *Directory) Listings() []Listing {
	d.mu.RLock()
	all := make([]listed, 0, len(d.listings))
	for _, e := range d.listings {
		all = append(all, e)
	}
	d.mu.RUnlock()
	slices.SortFunc(all, func(a, b listed) int {
		return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(a.ID, b.ID))
	})
	now := time.Now()
	out := make([]Listing, len(all))
	for i, e := range all {
		out[i] = *d.view(e.Listing, now)
	}
	return out
}

// Stats reports the index's size.
func (d *Directory) Stats() search.Stats {
	d.mu.RLock()
	ix := d.index
	d.mu.RUnlock()
	return ix.Stats()
}

// foldName is a name's sort key: case-folded, so "acme" sorts with "Acme".
func foldName(name string) string { return strings.ToLower(name) }
