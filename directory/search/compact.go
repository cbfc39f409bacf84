package search

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// maybeCompact renumbers the docs once dead ordinals pass a quarter of all.
// The caller holds wmu, so nothing else changes the core meanwhile: the new
// core is built under the read lock, searches going on, and the exclusive
// lock is held only to swap it in.
func (ix *Index) maybeCompact() {
	ix.mu.RLock()
	due := ix.dead > 0 && ix.dead*4 > len(ix.docs)
	var c core
	if due {
		c = ix.core.compacted()
	}
	ix.mu.RUnlock()
	if due {
		ix.mu.Lock()
		ix.core = c
		ix.words.reset() // its ordinals are the old core's
		ix.compactions++
		ix.mu.Unlock()
	}
}

// compacted returns a copy of c without dead ordinals and without terms no
// live doc holds. Ordinals keep their order, so postings stay sorted, and
// nothing is analyzed again. It changes nothing c holds: searches read c
// meanwhile.
func (c *core) compacted() core {
	n := core{
		docs:      make([]docEntry, 0, len(c.byID)),
		byID:      make(map[int64]uint32, len(c.byID)),
		live:      roaring.New(),
		sumLength: c.sumLength,
		termIDs:   make(map[string]uint32, len(c.termIDs)),
		filters:   newFilterIndex(),
	}
	remap := make([]uint32, len(c.docs))
	for ord := range c.docs {
		remap[ord] = boundary
		if c.live.Contains(uint32(ord)) {
			remap[ord] = uint32(len(n.docs))
			n.docs = append(n.docs, c.docs[ord])
		}
	}
	termRemap := make([]uint32, len(c.terms))
	for id := range c.terms {
		tm := c.terms[id] // a copy: its slices are replaced, never written
		termRemap[id] = boundary
		if tm.df <= 0 {
			continue
		}
		post := make([]posting, 0, tm.df)
		for _, p := range tm.post {
			if o := remap[p.ord]; o != boundary {
				post = append(post, posting{o, p.tf})
			}
		}
		tm.post, tm.bits = post, nil
		if len(post) >= bitsMinDF {
			tm.bits = postingBits(post)
		}
		termRemap[id] = uint32(len(n.terms))
		n.termIDs[tm.text] = uint32(len(n.terms))
		n.terms = append(n.terms, tm)
	}
	for ord := range n.docs {
		e := &n.docs[ord]
		seq := make([]byte, 0, len(e.seq))
		for i := 0; i < len(e.seq); {
			var id uint32
			if id, i = readSeq(e.seq, i); id != boundary {
				id = termRemap[id]
			}
			seq = appendSeq(seq, id)
		}
		e.seq = slices.Clip(seq)
		n.byID[e.doc.ID] = uint32(ord)
		n.filters.add(&e.doc, uint32(ord))
	}
	n.live.AddRange(0, uint64(len(n.docs)))
	n.dict.rebuild(n.terms)
	return n
}
