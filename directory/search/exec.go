package search

import (
	"cmp"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// BM25 parameters: the usual values.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// noFilter is a filter kind no filter has: intersect with it skips none.
const noFilter filterKind = -1

// Search runs q. A *QueryError reports a query that cannot run.
func (ix *Index) Search(q Query) (Results, error) {
	units, err := parseQuery(&q)
	if err != nil {
		return Results{}, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	filters := ix.filters.active(&q)
	rs := ix.resolveUnits(units)
	var res Results
	text := ix.live // the docs the text matches, before filters
	if len(rs) == 0 {
		cands := ix.filtered(filters)
		res.Total = int(cands.GetCardinality())
		if q.Offset < res.Total { // and so Offset+limit cannot overflow
			res.Hits = ix.hits(ix.listByName(cands, q.Offset+limit), q.Offset)
		}
	} else {
		var cands *roaring.Bitmap
		text, cands, res.Relaxed = ix.match(rs, filters, q.Facets)
		res.Total = int(cands.GetCardinality())
		if q.Offset < res.Total {
			res.Hits = ix.hits(ix.rank(rs, cands, q.Offset+limit), q.Offset)
			ix.explain(res.Hits, rs)
		}
	}
	if q.Facets {
		res.Facets = ix.facets(text, filters)
	}
	return res, nil
}

// scored is a doc's ordinal and score while ranking.
type scored struct {
	ord   uint32
	score float32
}

func (ix *Index) hits(top []scored, offset int) []Hit {
	if offset >= len(top) {
		return nil
	}
	hits := make([]Hit, 0, len(top)-offset)
	for _, s := range top[offset:] {
		hits = append(hits, Hit{ID: ix.docs[s.ord].doc.ID, Score: float64(s.score)})
	}
	return hits
}

// termBits returns the ordinals holding term id. It may be the term's own
// bitmap: never change it.
func (ix *Index) termBits(id uint32) *roaring.Bitmap {
	tm := &ix.terms[id]
	if tm.bits != nil {
		return tm.bits
	}
	return postingBits(tm.post)
}

// unitBits returns the docs holding every word of r, phrase order not yet
// checked. Never change it.
func (ix *Index) unitBits(r resolved) *roaring.Bitmap {
	b := r.words[0].bits
	for i, w := range r.words[1:] {
		if i == 0 {
			b = roaring.And(b, w.bits)
		} else {
			b.And(w.bits)
		}
	}
	return b
}

// filtered returns the live docs that pass every filter. Never change it.
// The filters hold live docs only (remove takes a doc out of them), so with
// a filter the live bitmap need not be intersected: one bitmap fewer to
// allocate and fill a search.
func (ix *Index) filtered(filters []activeFilter) *roaring.Bitmap {
	if len(filters) > 0 {
		return intersect(filters[0].bits, filters[1:], noFilter)
	}
	return ix.live
}

// match finds the docs matching rs: every unit, or failing that any unit
// (relaxed). text is the matches among all live docs when facets need them,
// else among the filtered docs only; cands is text with the filters.
func (ix *Index) match(rs []resolved, filters []activeFilter, facets bool) (text, cands *roaring.Bitmap, relaxed bool) {
	scope := ix.live
	if !facets {
		scope = ix.filtered(filters)
	}
	ub := make([]*roaring.Bitmap, len(rs))
	text = scope
	for i, r := range rs {
		ub[i] = ix.unitBits(r)
		if i == 0 {
			text = roaring.And(text, ub[i]) // a bitmap of our own from here
		} else {
			text.And(ub[i])
		}
	}
	for _, r := range rs {
		if r.phrase {
			ix.keepPhrase(text, r)
		}
	}
	cands = text
	if facets {
		cands = intersect(text, filters, noFilter)
	}
	if !cands.IsEmpty() || len(rs) == 1 {
		return text, cands, false
	}
	parts := make([]*roaring.Bitmap, len(rs))
	for i, r := range rs {
		parts[i] = roaring.And(scope, ub[i])
		if r.phrase {
			ix.keepPhrase(parts[i], r)
		}
	}
	text = roaring.FastOr(parts...)
	cands = text
	if facets {
		cands = intersect(text, filters, noFilter)
	}
	return text, cands, !cands.IsEmpty()
}

// keepPhrase removes from b, which the caller owns, the docs where r's words
// do not occur one right after the other.
func (ix *Index) keepPhrase(b *roaring.Bitmap, r resolved) {
	var drop, seq []uint32
	b.Iterate(func(ord uint32) bool {
		seq = decodeSeq(seq[:0], ix.docs[ord].seq)
		if !hasPhrase(seq, r.words) {
			drop = append(drop, ord)
		}
		return true
	})
	for _, ord := range drop {
		b.Remove(ord)
	}
}

func hasPhrase(seq []uint32, words []*qword) bool {
	for i := 0; i+len(words) <= len(seq); i++ {
		j := 0
		for j < len(words) && hasAlt(words[j].alts, seq[i+j]) {
			j++
		}
		if j == len(words) {
			return true
		}
	}
	return false
}

func hasAlt(alts []alt, id uint32) bool {
	for _, a := range alts {
		if a.id == id {
			return true
		}
	}
	return false
}

// scratch holds a query's per-candidate arrays. Pooled, so that a search
// allocates nothing in proportion to the index.
type scratch struct {
	cands []uint32
	norm  []float32 // BM25's length normalization per candidate
	total []float32
	best  []float32 // per ordinal, while bestScores scores a word
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// rank scores cands by BM25 and returns the best k, best first. A word's
// score is that of its best alternative; a doc's, the sum over the words.
func (ix *Index) rank(rs []resolved, cands *roaring.Bitmap, k int) []scored {
	n := int(cands.GetCardinality())
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	s.cands = grow(s.cands, n)
	cands.ToExistingArray(&s.cands)
	s.norm, s.total = grow(s.norm, n), grow(s.total, n)
	avg := ix.avgLength()
	for i, ord := range s.cands {
		s.norm[i] = ix.norm(ord, avg)
		s.total[i] = 0
	}
	for _, r := range rs {
		for _, w := range r.words {
			switch {
			case w.scores != nil:
				addScores(s.cands, s.total, w.scores)
			case len(w.alts) == 1:
				tm := &ix.terms[w.alts[0].id]
				scoreTerm(s.cands, s.norm, s.total, tm.post, ix.idf(tm)*w.alts[0].boost)
			}
		}
	}
	better := func(a, b scored) bool {
		if a.score != b.score {
			return a.score > b.score
		}
		return ix.docs[a.ord].doc.ID < ix.docs[b.ord].doc.ID
	}
	top := newTopK(k, n, better)
	for i, ord := range s.cands {
		top.push(scored{ord, s.total[i]})
	}
	return top.sorted()
}

// scoreTerm adds a term's BM25 score into acc for each candidate in its
// postings. Both lists are sorted; galloping lets a short list skip through
// a long one.
func scoreTerm(cands []uint32, norm, acc []float32, post []posting, idf float32) {
	i, j := 0, 0
	for i < len(cands) && j < len(post) {
		c, p := cands[i], post[j].ord
		switch {
		case c < p:
			i = gallop(len(cands), i, func(x int) bool { return cands[x] >= p })
		case c > p:
			j = gallop(len(post), j, func(x int) bool { return post[x].ord >= c })
		default:
			acc[i] += bm25(idf, post[j].tf, norm[i])
			i++
			j++
		}
	}
}

// addScores adds a word's scores (qword.scores) into acc for each candidate
// they hold, as scoreTerm does.
func addScores(cands []uint32, acc []float32, scores []posting) {
	i, j := 0, 0
	for i < len(cands) && j < len(scores) {
		c, p := cands[i], scores[j].ord
		switch {
		case c < p:
			i = gallop(len(cands), i, func(x int) bool { return cands[x] >= p })
		case c > p:
			j = gallop(len(scores), j, func(x int) bool { return scores[x].ord >= c })
		default:
			acc[i] += scores[j].tf
			i++
			j++
		}
	}
}

// gallop returns the first index from lo below n where ok holds (ok is
// monotone), probing at doubling steps and then by binary search.
func gallop(n, lo int, ok func(int) bool) int {
	step := 1
	hi := lo + 1
	for hi < n && !ok(hi) {
		lo = hi
		step *= 2
		hi = lo + step
	}
	if hi > n {
		hi = n
	}
	// ok is false at lo, and true at hi or hi == n.
	for lo+1 < hi {
		m := int(uint(lo+hi) >> 1)
		if ok(m) {
			hi = m
		} else {
			lo = m
		}
	}
	return hi
}

// listByName returns the first k of cands by name, for a search without words.
func (ix *Index) listByName(cands *roaring.Bitmap, k int) []scored {
	better := func(a, b scored) bool {
		ea, eb := &ix.docs[a.ord], &ix.docs[b.ord]
		if c := cmp.Compare(ea.nameKey, eb.nameKey); c != 0 {
			return c < 0
		}
		return ea.doc.ID < eb.doc.ID
	}
	top := newTopK(k, int(cands.GetCardinality()), better)
	cands.Iterate(func(ord uint32) bool {
		top.push(scored{ord, 0})
		return true
	})
	return top.sorted()
}
