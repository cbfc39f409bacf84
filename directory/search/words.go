package search

import (
	"math"
	"sync"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// A query word stands for several terms: its stems in every language, and
// for the word being typed up to 50 completions. Matching it means an OR of
// their bitmaps, and ranking it a walk of each one's postings, which cost a
// search more than anything else it did. People search with a small
// vocabulary, so the index keeps each word it has resolved: its terms, the
// docs holding any of them, and per doc the BM25 score of its best term,
// until the next change to the index.

// qword is a query word resolved against the index as it is now.
type qword struct {
	alts []alt
	// bits are the docs holding any alt, deleted ones included (searches
	// intersect it with live docs). It may be a term's own bitmap: never
	// change it.
	bits *roaring.Bitmap
	// scores, for a word of several alts, hold per doc of bits (by ordinal)
	// the BM25 score of its best alt, in tf. Ranking adds them as they
	// are. Nil with one alt, whose postings rank the usual way.
	scores []posting
	bytes  int64 // what the cache holds for it
}

// wordCache holds the words searched since the last change to the index.
// Writers clear it while holding the index's write lock, and searches fill
// it under the read lock, so an entry always matches the index it is read
// with.
type wordCache struct {
	mu    sync.Mutex
	m     map[wordKey]*qword
	bytes int64
}

type wordKey struct {
	w      string
	prefix bool
}

// wordCacheMax bounds the cache's bytes; it starts over when full. 4 MiB
// hold a few hundred words with their completions on a directory of 10,000
// coops.
const wordCacheMax = 4 << 20

func (c *wordCache) get(k wordKey) *qword {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *wordCache) put(k wordKey, w *qword) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.bytes+w.bytes > wordCacheMax {
		c.m, c.bytes = map[wordKey]*qword{}, 0
	}
	if _, ok := c.m[k]; !ok {
		c.m[k] = w
		c.bytes += w.bytes
	}
}

// reset empties the cache. The caller holds the index's write lock.
func (c *wordCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 0 {
		c.m, c.bytes = nil, 0
	}
}

func (c *wordCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// word resolves folded query word w. The caller holds the read lock.
func (ix *Index) word(w string, prefix bool) *qword {
	k := wordKey{w, prefix}
	if q := ix.words.get(k); q != nil {
		return q
	}
	q := &qword{alts: ix.resolve(w, prefix)}
	q.bits = ix.wordBits(q.alts)
	q.bytes = int64(len(w)) + int64(unsafe.Sizeof(*q)) + int64(cap(q.alts))*int64(unsafe.Sizeof(alt{})) + 64
	switch {
	case len(q.alts) > 1:
		q.scores = ix.bestScores(q.alts, q.bits)
		q.bytes += int64(q.bits.GetSizeInBytes()) + int64(cap(q.scores))*int64(unsafe.Sizeof(posting{}))
	case len(q.alts) == 1 && ix.terms[q.alts[0].id].bits == nil:
		q.bytes += int64(q.bits.GetSizeInBytes()) // made for the word: the term keeps none
	}
	ix.words.put(k, q)
	return q
}

// wordBits returns the docs holding any of alts. Never change it.
func (ix *Index) wordBits(alts []alt) *roaring.Bitmap {
	switch len(alts) {
	case 0:
		return roaring.New()
	case 1:
		return ix.termBits(alts[0].id)
	}
	// Pairwise: FastOr works in 8 KiB bitmap containers, more than the
	// few hundred docs most words have.
	b := roaring.Or(ix.termBits(alts[0].id), ix.termBits(alts[1].id))
	for _, a := range alts[2:] {
		b.Or(ix.termBits(a.id))
	}
	return b
}

// bestScores scores every doc of bits by its best alt.
func (ix *Index) bestScores(alts []alt, bits *roaring.Bitmap) []posting {
	s := scratchPool.Get().(*scratch)
	defer scratchPool.Put(s)
	best := grow(s.best, len(ix.docs))
	s.best = best
	clear(best)
	avg := ix.avgLength()
	for _, a := range alts {
		tm := &ix.terms[a.id]
		idf := ix.idf(tm) * a.boost
		for _, p := range tm.post {
			if v := bm25(idf, p.tf, ix.norm(p.ord, avg)); v > best[p.ord] {
				best[p.ord] = v
			}
		}
	}
	out := make([]posting, 0, bits.GetCardinality())
	bits.Iterate(func(ord uint32) bool {
		out = append(out, posting{ord, best[ord]})
		return true
	})
	return out
}

// avgLength is BM25's average doc length.
func (ix *Index) avgLength() float32 {
	avg := float32(ix.sumLength / float64(len(ix.byID)))
	if !(avg > 0) { // an empty index gives NaN
		avg = 1
	}
	return avg
}

// idf is BM25's inverse document frequency of tm.
func (ix *Index) idf(tm *term) float32 {
	docs := float64(len(ix.byID))
	return float32(math.Log(1 + (docs-float64(tm.df)+0.5)/(float64(tm.df)+0.5)))
}

// norm is BM25's length normalization of the doc at ord.
func (ix *Index) norm(ord uint32, avg float32) float32 {
	return bm25K1 * (1 - bm25B + bm25B*ix.docs[ord].length/avg)
}

// bm25 is a term's score in a doc, from its idf (with the alt's boost), its
// frequency in the doc and the doc's norm.
func bm25(idf, tf, norm float32) float32 {
	return idf * tf * (bm25K1 + 1) / (tf + norm)
}
