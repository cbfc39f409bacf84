package web

import (
	"cmp"
	"slices"
	"sync"

	"github.com/coopnet/coopnet/directory"
)

// listingCacheBytes is the size of the listing cache: about 1,800 listings
// of ten services (2.3 kB each), the ones added last. The 10,000
// listings of a large directory would take 23 MB, which the node's memory
// limit cannot spare: in coopbench search, a 24 MB cache made the node
// collect garbage twice as often, which ate most of what the hits saved.
const listingCacheBytes = 4 << 20

// listingCache holds listings' JSON by listing id, each beside the listing
// it was made from. directory.Listing has no version: a service's edit, a
// peer becoming unreachable or a listing turning stale leave UpdatedAt as
// it was. So a cached part serves only a listing equal to its source in
// every field it shows, which costs little: an unchanged listing shares its
// strings with the cached copy, and comparing a string with itself stops at
// the pointer.
//
// A large directory's listings do not all fit, and searches find them about
// evenly, so most lookups miss and each miss replaces a part. So that this
// allocates nothing, the parts are written one after the other into one
// ring of bytes, each over the oldest, and their listings are kept in a
// queue in the same order: 2 kB of garbage a miss would cost more in garbage
// collection than the cache saves.
type listingCache struct {
	size int // of the ring; 0 means listingCacheBytes

	mu    sync.RWMutex
	ring  []byte // made on the first put
	next  int    // where the next part goes in ring
	parts map[int64]uint64
	// spans is a circular queue of the parts in the order they were
	// written: head is the oldest, numbered first; parts maps a listing's
	// id to the number of its latest span.
	spans       []cachedListing
	head, count int
	first       uint64
}

// cachedListing is a listing and where its JSON is in the ring.
type cachedListing struct {
	src        directory.Listing
	start, end int
}

// has reports whether l's JSON is cached, and l has not changed since.
func (lc *listingCache) has(l *directory.Listing) bool {
	lc.mu.RLock()
	defer lc.mu.RUnlock()
	n, ok := lc.parts[l.ID]
	return ok && sameShown(&lc.spans[(lc.head+int(n-lc.first))%len(lc.spans)].src, l)
}

// appendTo appends l's JSON to b if it is cached and l has not changed
// since. It copies under the lock: put overwrites the ring.
func (lc *listingCache) appendTo(b []byte, l *directory.Listing) ([]byte, bool) {
	lc.mu.RLock()
	defer lc.mu.RUnlock()
	n, ok := lc.parts[l.ID]
	if !ok {
		return b, false
	}
	p := &lc.spans[(lc.head+int(n-lc.first))%len(lc.spans)]
	if !sameShown(&p.src, l) {
		return b, false
	}
	return append(b, lc.ring[p.start:p.end]...), true
}

// put caches a copy of part as l's JSON, in place of the oldest parts.
func (lc *listingCache) put(l *directory.Listing, part []byte) {
	size := cmp.Or(lc.size, listingCacheBytes)
	if len(part) > size/64 {
		return // a giant would push out dozens of others
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.ring == nil {
		lc.ring = make([]byte, size)
		lc.parts = map[int64]uint64{}
	}
	start := lc.next
	wrapped := start+len(part) > len(lc.ring)
	if wrapped {
		start = 0 // the end of the ring stays unused this round
	}
	end := start + len(part)
	// The oldest parts come first: those the new one overwrites, and on a
	// wrap those after next, which the ring no longer reaches.
	for lc.count > 0 {
		old := &lc.spans[lc.head]
		overlaps := old.start < end && old.end > start
		stranded := wrapped && old.start >= lc.next
		if !overlaps && !stranded {
			break
		}
		if lc.parts[old.src.ID] == lc.first {
			delete(lc.parts, old.src.ID) // unless it was written again since
		}
		*old = cachedListing{} // let go of its strings
		lc.head = (lc.head + 1) % len(lc.spans)
		lc.count--
		lc.first++
	}
	if lc.count == len(lc.spans) {
		lc.grow()
	}
	copy(lc.ring[start:end], part)
	lc.spans[(lc.head+lc.count)%len(lc.spans)] = cachedListing{src: *l, start: start, end: end}
	lc.parts[l.ID] = lc.first + uint64(lc.count)
	lc.count++
	lc.next = end
}

// grow doubles the queue of spans, until it holds as many as the ring does.
func (lc *listingCache) grow() {
	spans := make([]cachedListing, max(64, 2*len(lc.spans)))
	for i := range lc.count {
		spans[i] = lc.spans[(lc.head+i)%len(lc.spans)]
	}
	lc.spans, lc.head = spans, 0
}

// sameShown reports whether a and b show the same in the API. A listing's
// slices are never changed once the directory has published it (searches
// read them without its lock), so slices that share their array are equal
// without a look inside: that look, at memory no other part of the search
// reads, cost more than the rest of a hit.
func sameShown(a, b *directory.Listing) bool {
	if a.ID != b.ID || a.Slug != b.Slug || a.Name != b.Name || a.Summary != b.Summary || a.Domain != b.Domain ||
		a.ActorID != b.ActorID || a.URL != b.URL || a.City != b.City || a.Region != b.Region ||
		a.Country != b.Country || a.Capacity != b.Capacity || a.RemoteFriendly != b.RemoteFriendly ||
		a.Stale != b.Stale || !sameStrings(a.Languages, b.Languages) || len(a.Services) != len(b.Services) {
		return false
	}
	if (a.UnreachableSince == nil) != (b.UnreachableSince == nil) ||
		a.UnreachableSince != nil && *a.UnreachableSince != *b.UnreachableSince {
		return false
	}
	if len(a.Services) == 0 || &a.Services[0] == &b.Services[0] {
		return true
	}
	for i := range a.Services {
		sa, sb := &a.Services[i], &b.Services[i]
		if sa.ID != sb.ID || sa.Title != sb.Title || sa.Category != sb.Category || sa.Pricing != sb.Pricing ||
			sa.URL != sb.URL || !sameStrings(sa.Tags, sb.Tags) {
			return false
		}
	}
	return true
}

// sameStrings reports whether a and b hold the same strings.
func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	return slices.Equal(a, b)
}
