package directory

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/internal/markup"
)

// Loading coops for the Directory: all of them in two queries (indexAll),
// or those a Sync names in two queries per 500 (loadListed); never one
// query per coop. BenchmarkDirectoryBuild measures the first.

// listedCoop is a coop as the Directory loads it.
type listedCoop struct {
	KnownCoop
	UnreachableSince *time.Time
}

// listedService is an active service as the Directory loads it.
type listedService struct {
	ID          int64
	CoopID      int64
	Title       string
	Description string
	Category    string
	Tags        []string
	Pricing     string
	URL         string
}

const (
	listedCoopColumns    = knownCoopColumns + `, c.unreachable_since`
	listedServiceColumns = `s.id, s.coop_id, s.title, s.description, s.category, s.tags, s.pricing, s.url`
	// loadChunk is how many coops one query names (well under both
	// databases' limits on parameters).
	loadChunk = 500
	// summaryLength is the length of a Listing's summary, in characters.
	summaryLength = 300
)

// indexed is what indexAll put in the index.
type indexed struct {
	listings map[int64]listed
	services int   // listed
	refused  int   // coops Put refused
	err      error // the last Put refused, if any
}

// indexAll puts every discoverable coop into ix, which no one else uses
// yet. The services are read in coop order, and each coop goes to a worker
// as soon as its services are in: reading, converting and indexing overlap
// and use every core (Put analyzes outside the index's lock).
func (s *Store) indexAll(ctx context.Context, ix *search.Index) (indexed, error) {
	coops, err := s.listedCoops(ctx, `c.discoverable`)
	if err != nil {
		return indexed{}, err
	}
	byID := make(map[int64]listedCoop, len(coops))
	for _, c := range coops {
		byID[c.ID] = c
	}
	type job struct {
		coop     listedCoop
		services []listedService
	}
	jobs := make(chan job, 64)
	workers := runtime.GOMAXPROCS(0)
	done := make([][]listed, workers)
	refused := make([]int, workers)
	putErrs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for j := range jobs {
				l, doc := j.coop.listing(j.services)
				if err := ix.PutOwned(doc); err != nil {
					refused[w]++
					putErrs[w] = err
					continue
				}
				done[w] = append(done[w], listed{Listing: &l, key: foldName(l.Name)})
			}
		})
	}
	err = s.eachCoopServices(ctx, func(coopID int64, svcs []listedService) {
		if c, ok := byID[coopID]; ok {
			delete(byID, coopID)
			jobs <- job{c, svcs}
		}
	})
	if err == nil {
		for _, c := range byID { // no active service
			jobs <- job{coop: c}
		}
	}
	close(jobs)
	wg.Wait()
	if err != nil {
		return indexed{}, err
	}
	out := indexed{listings: make(map[int64]listed, len(coops)), err: errors.Join(putErrs...)}
	for w, ls := range done {
		out.refused += refused[w]
		for _, l := range ls {
			out.listings[l.ID] = l
			out.services += len(l.Services)
		}
	}
	return out, nil
}

// eachCoopServices calls fn with the active services of each coop that has
// some, one coop at a time.
func (s *Store) eachCoopServices(ctx context.Context, fn func(coopID int64, svcs []listedService)) error {
	rows, err := s.db.Query(ctx, `SELECT `+listedServiceColumns+` FROM services s WHERE s.active ORDER BY s.coop_id`)
	if err != nil {
		return fmt.Errorf("directory: load listed services: %w", err)
	}
	defer rows.Close()
	var group []listedService
	for rows.Next() {
		svc, err := scanListedService(rows)
		if err != nil {
			return err
		}
		if len(group) > 0 && group[0].CoopID != svc.CoopID {
			fn(group[0].CoopID, group)
			group = nil
		}
		group = append(group, svc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("directory: load listed services: %w", err)
	}
	if len(group) > 0 {
		fn(group[0].CoopID, group)
	}
	return nil
}

// loadListed returns the coops with those ids and their active services,
// by coop.
func (s *Store) loadListed(ctx context.Context, ids []int64) ([]listedCoop, map[int64][]listedService, error) {
	services := map[int64][]listedService{}
	var coops []listedCoop
	for chunk := range slices.Chunk(ids, loadChunk) {
		args := int64Args(chunk)
		in := placeholders(1, len(chunk))
		cs, err := s.listedCoops(ctx, `c.id IN (`+in+`)`, args...)
		if err != nil {
			return nil, nil, err
		}
		coops = append(coops, cs...)
		if err := s.listedServices(ctx, services, `s.coop_id IN (`+in+`)`, args...); err != nil {
			return nil, nil, err
		}
	}
	return coops, services, nil
}

func (s *Store) listedCoops(ctx context.Context, where string, args ...any) ([]listedCoop, error) {
	rows, err := s.db.Query(ctx, `SELECT `+listedCoopColumns+` FROM coops c WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("directory: load listings: %w", err)
	}
	defer rows.Close()
	var out []listedCoop
	for rows.Next() {
		var k listedCoop
		var fetched, unreachable sql.NullTime
		extra := extraScanner{dest: []any{&k.Domain, &k.ActorID, &k.URL, &k.IconURL, &fetched, &unreachable}}
		c, err := scanCoop(extra.wrap(rows))
		if err != nil {
			return nil, fmt.Errorf("directory: load listings: %w", err)
		}
		k.Coop = c
		if fetched.Valid {
			k.FetchedAt = fetched.Time.UTC()
		}
		if unreachable.Valid {
			t := unreachable.Time.UTC()
			k.UnreachableSince = &t
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: load listings: %w", err)
	}
	return out, nil
}

// listedServices adds the active services that where selects to byCoop.
func (s *Store) listedServices(ctx context.Context, byCoop map[int64][]listedService, where string, args ...any) error {
	rows, err := s.db.Query(ctx, `SELECT `+listedServiceColumns+` FROM services s WHERE s.active AND `+where, args...)
	if err != nil {
		return fmt.Errorf("directory: load listed services: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		svc, err := scanListedService(rows)
		if err != nil {
			return err
		}
		byCoop[svc.CoopID] = append(byCoop[svc.CoopID], svc)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("directory: load listed services: %w", err)
	}
	return nil
}

func scanListedService(rows *sql.Rows) (listedService, error) {
	var svc listedService
	var tags list
	if err := rows.Scan(&svc.ID, &svc.CoopID, &svc.Title, &svc.Description, &svc.Category, &tags,
		&svc.Pricing, &svc.URL); err != nil {
		return listedService{}, fmt.Errorf("directory: load listed services: %w", err)
	}
	svc.Tags = tags
	return svc, nil
}

// listing returns what the directory shows of c and what it indexes.
func (c listedCoop) listing(services []listedService) (Listing, search.Doc) {
	// Newest first, as the coop's own page lists them (by created_at, which
	// grows with the id: both are set when the row is inserted).
	slices.SortFunc(services, func(a, b listedService) int { return cmp.Compare(b.ID, a.ID) })
	summary := markup.Plain(c.Summary)
	l := Listing{
		ID: c.ID, Slug: c.Slug, Name: c.Name, Summary: shorten(summary, summaryLength),
		Domain: c.Domain, ActorID: c.ActorID, URL: c.URL, IconURL: c.IconURL, HasLogo: c.HasLogo,
		City: c.City, Region: c.Region, Country: c.Country, RegionsServed: c.RegionsServed,
		RemoteFriendly: c.RemoteFriendly, Languages: c.Languages, Capacity: c.Capacity, Skills: c.Skills,
		Services: make([]ListingService, len(services)), UpdatedAt: c.UpdatedAt,
		UnreachableSince: c.UnreachableSince,
	}
	doc := search.Doc{
		ID: c.ID, Name: c.Name, Summary: summary, Skills: c.Skills, Languages: c.Languages,
		Country: c.Country, Region: c.Region, City: c.City, RegionsServed: c.RegionsServed,
		RemoteFriendly: c.RemoteFriendly, Capacity: string(c.Capacity),
		Services: make([]search.Service, len(services)),
	}
	for i, s := range services {
		l.Services[i] = ListingService{ID: s.ID, Title: s.Title, Category: s.Category, Tags: s.Tags, Pricing: s.Pricing, URL: s.URL}
	}
	compactListing(&l)
	// The doc shares the compacted strings: what the index keeps of it
	// adds no copy of its own.
	doc.Name, doc.City, doc.Region, doc.Country = l.Name, l.City, l.Region, l.Country
	doc.Skills, doc.Languages, doc.RegionsServed = l.Skills, l.Languages, l.RegionsServed
	for i, s := range services {
		ls := l.Services[i]
		doc.Services[i] = search.Service{ID: s.ID, Title: ls.Title, Description: s.Description,
			Category: ls.Category, Tags: ls.Tags, Pricing: ls.Pricing}
	}
	return l, doc
}

// compactListing moves the strings of l into one block and its lists of
// strings into one array. Loaded from the database, a listing is about
// seventy small objects spread over the heap; compacted, it is a handful,
// close together. The collector has far fewer objects to mark, and writing
// a listing as JSON reads memory in order instead of waiting on a cache
// miss at every string.
func compactListing(l *Listing) {
	strs := []*string{&l.Slug, &l.Name, &l.Summary, &l.Domain, &l.ActorID, &l.URL, &l.IconURL,
		&l.City, &l.Region, &l.Country, (*string)(&l.Capacity)}
	lists := []*[]string{&l.RegionsServed, &l.Languages, &l.Skills}
	for i := range l.Services {
		svc := &l.Services[i]
		strs = append(strs, &svc.Title, &svc.Category, &svc.Pricing, &svc.URL)
		lists = append(lists, &svc.Tags)
	}
	size, items := 0, 0
	for _, p := range strs {
		size += len(*p)
	}
	for _, p := range lists {
		items += len(*p)
		for _, v := range *p {
			size += len(v)
		}
	}
	buf := make([]byte, 0, size)
	for _, p := range strs {
		buf = append(buf, *p...)
	}
	for _, p := range lists {
		for _, v := range *p {
			buf = append(buf, v...)
		}
	}
	l.PlainText = plainText(buf)
	block := string(buf)
	off := 0
	take := func(n int) string {
		s := block[off : off+n]
		off += n
		return s
	}
	for _, p := range strs {
		*p = take(len(*p))
	}
	array := make([]string, items)
	for _, p := range lists {
		if *p == nil {
			continue
		}
		n := len(*p)
		list := array[:n:n]
		array = array[n:]
		for i, v := range *p {
			list[i] = take(len(v))
		}
		*p = list
	}
}

// plainText reports whether b is text that JSON strings hold as it is: see
// Listing.PlainText.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i, c := range b {
		switch {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9): // U+2028, U+2029
			return false
		}
	}
	return true
}

// shorten cuts text to at most n characters, at a word where it can, and
// marks the cut with an ellipsis.
func shorten(text string, n int) string {
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	cut := string([]rune(text)[:n])
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
