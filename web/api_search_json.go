package web

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// Writing search results by hand. encoding/json took a third of the node's
// CPU on the search API: reflection over 20 coops a page, each with all its
// services, and escaping 46 kB of strings an answer. apiSearch assembles the
// same bytes instead: each listing's part (all of resultJSON but matched and
// score) comes from a cache or is appended field by field; the rest is a
// few numbers and short strings. The output is what json.Encoder makes of
// searchJSON, byte for byte, which TestAPISearchBytes checks.

// searchAnswers is what the search API keeps between requests.
type searchAnswers struct {
	listings listingCache
	// buffers are answers' buffers, of tens of kB each, for reuse: fewer
	// allocations mean fewer garbage collections, and a smaller heap.
	buffers sync.Pool
}

// touch reads a byte in every 64 of the listing's strings, and returns them
// folded into one, for the compiler to keep the reads.
func touch(l *directory.Listing) byte {
	var x byte
	str := func(s string) {
		for i := 0; i < len(s); i += 64 {
			x ^= s[i]
		}
	}
	str(l.Name)
	str(l.Summary)
	str(l.Slug)
	str(l.City)
	str(l.Region)
	str(l.URL)
	for _, lang := range l.Languages {
		str(lang)
	}
	for i := range l.Services {
		svc := &l.Services[i]
		str(svc.Title)
		str(svc.Category)
		str(svc.Pricing)
		str(svc.URL)
		for _, t := range svc.Tags {
			str(t)
		}
	}
	return x
}

// listingCacheBytes is the size of the listing cache: about 1,800 listings
// of ten services (2.3 kB each), the last ones searches found. The 10,000
// listings of a large directory would take 23 MB, which the node's memory
// limit cannot spare: in coopbench search, a 24 MB cache made the node
// collect garbage twice as often, which ate most of what the hits saved.
const listingCacheBytes = 4 << 20

// maxPooledBuffer is the largest answer buffer kept for reuse: a page of 100
// coops with many services is rare, and should not pin its buffer.
const maxPooledBuffer = 1 << 20

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

// writeSearchJSON writes res as searchJSON.
func (s *Server) writeSearchJSON(c echo.Context, q directoryQuery, res directory.SearchResults, facets *facetsJSON) error {
	bp, _ := s.answers.buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			s.answers.buffers.Put(bp)
		}
	}()
	b := append((*bp)[:0], `{"total":`...)
	b = strconv.AppendInt(b, int64(res.Total), 10)
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(q.Page), 10)
	b = append(b, `,"per_page":`...)
	b = strconv.AppendInt(b, int64(q.PerPage), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"relaxed":`...)
	b = strconv.AppendBool(b, res.Relaxed)
	b = append(b, `,"results":[`...)
	b = s.appendResults(b, res.Hits)
	b = append(b, ']')
	if facets != nil {
		f, err := json.Marshal(facets)
		if err != nil {
			return err
		}
		b = append(append(b, `,"facets":`...), f...)
	}
	b = append(b, "}\n"...) // json.Encoder ends with a newline
	*bp = b
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		// As c.JSON does: indented, for people reading it.
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		b = out.Bytes()
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(b)
	return err
}

// appendResults appends the hits as resultJSON, with commas between.
//
// A listing's strings are spread over the heap and, in a large directory,
// seldom in the CPU's caches: appendListing waited for memory at each. So
// the listings the cache lacks are touched first, every string at once,
// which lets the CPU fetch them side by side: a page of 20 listings new to
// the cache took 130-145 µs without this, 90-105 µs with it
// (BenchmarkSearchAnswer/new).
func (s *Server) appendResults(b []byte, hits []directory.SearchHit) []byte {
	var x byte
	for i := range hits {
		if !s.answers.listings.has(&hits[i].Listing) {
			x ^= touch(&hits[i].Listing)
		}
	}
	runtime.KeepAlive(x) // the reads are the point
	for i := range hits {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendResult(b, &hits[i])
	}
	return b
}

// appendResult appends one hit as resultJSON.
func (s *Server) appendResult(b []byte, h *directory.SearchHit) []byte {
	b, cached := s.answers.listings.appendTo(b, &h.Listing)
	if !cached {
		start := len(b)
		b = s.appendListing(b, &h.Listing)
		s.answers.listings.put(&h.Listing, b[start:])
	}
	b = append(b, `,"matched":[`...)
	for i, m := range h.Matched {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = appendJSONString(b, m.Field)
		b = append(b, `,"text":`...)
		b = appendJSONString(b, m.Text)
		b = append(b, '}')
	}
	b = append(b, `],"score":`...)
	b = appendJSONFloat(b, h.Score)
	return append(b, '}')
}

// appendListing appends listingJSON without its closing brace, for the
// matched words and the score to follow.
func (s *Server) appendListing(b []byte, l *directory.Listing) []byte {
	profile, request := listingLinks(*l, s.apiAbsURL(""))
	b = append(b, `{"name":`...)
	b = appendJSONString(b, l.Name)
	b = append(b, `,"slug":`...)
	b = appendJSONString(b, l.Slug)
	b = append(b, `,"handle":`...)
	b = appendJSONString(b, s.listingHandle(*l))
	b = append(b, `,"local":`...)
	b = strconv.AppendBool(b, l.Local())
	b = append(b, `,"profile_url":`...)
	b = appendJSONString(b, profile)
	b = append(b, `,"request_url":`...)
	b = appendJSONString(b, request)
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, l.Summary)
	b = append(b, `,"city":`...)
	b = appendJSONString(b, l.City)
	b = append(b, `,"region":`...)
	b = appendJSONString(b, l.Region)
	b = append(b, `,"country":`...)
	b = appendJSONString(b, l.Country)
	b = append(b, `,"languages":`...)
	b = appendJSONStrings(b, l.Languages)
	b = append(b, `,"capacity":`...)
	b = appendJSONString(b, string(l.Capacity))
	b = append(b, `,"remote_friendly":`...)
	b = strconv.AppendBool(b, l.RemoteFriendly)
	b = append(b, `,"stale":`...)
	b = strconv.AppendBool(b, l.Stale)
	b = append(b, `,"unreachable_since":`...)
	b = appendJSONTime(b, l.UnreachableSince)
	b = append(b, `,"services":[`...)
	for i := range l.Services {
		svc := &l.Services[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"title":`...)
		b = appendJSONString(b, svc.Title)
		b = append(b, `,"category":`...)
		b = appendJSONString(b, svc.Category)
		b = append(b, `,"tags":`...)
		b = appendJSONStrings(b, svc.Tags)
		b = append(b, `,"pricing":`...)
		b = appendJSONString(b, svc.Pricing)
		b = append(b, `,"url":`...)
		b = appendJSONString(b, s.serviceURL(*l, *svc))
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendJSONStrings appends a list of strings; nil is [], as orEmpty makes
// it in the structs.
func appendJSONStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONTime appends t as encoding/json does (RFC 3339 with the
// nanoseconds it has), or null.
func appendJSONTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json does: the shortest decimal
// that reads back as f, with an exponent only for very small or large
// values. A score is never NaN or infinite, which JSON cannot say: 0 then.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonSafe marks the ASCII bytes that encoding/json writes as they are in a
// string: not the quote, the backslash and control characters, nor < > and &,
// which it escapes by default so that JSON stays inert inside HTML.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := byte(' '); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it: the same
// escapes, invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped for
// JavaScript. Eight bytes at a time while none needs a look of its own:
// most text is plain ASCII, and this is where the answer's time goes.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Byte-wise tests on eight bytes at once (SWAR), from "Bit Twiddling Hacks":
// for v, (v - ones) &^ v & highs is not zero if and only if a byte of v is 0.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the eight bytes of s are ASCII that JSON strings
// hold as they are: no byte of 0x80 or more, below 0x20, nor " \\ < > &.
func plain8(s string) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// Below 0x20: x - 0x20 in a byte borrows into its high bit; the bytes
	// of 0x80 or more are caught by the high bits of x itself.
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	lt, gt, amp := x^('<'*ones), x^('>'*ones), x^('&'*ones)
	bad := (x-0x20*ones)&^x | x |
		(quote-ones)&^quote | (backslash-ones)&^backslash |
		(lt-ones)&^lt | (gt-ones)&^gt | (amp-ones)&^amp
	return bad&highs == 0
}
