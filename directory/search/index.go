package search

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// DefaultMaxDocs is the limit of docs an index made with New holds.
const DefaultMaxDocs = 200_000

// ErrFull is returned by Put when the index holds its limit of docs.
var ErrFull = errors.New("search: index is full")

// boundary marks the start of a segment in a doc's term sequence, so that a
// phrase never spans two fields or two services.
const boundary = math.MaxUint32

// bitsMinDF is the posting count from which a term keeps a bitmap of its
// docs beside its postings. Rarer terms build one when a query needs it:
// cheap at that size, and most terms are rare.
const bitsMinDF = 32

// posting is one doc holding a term, with the term's field-weighted frequency.
type posting struct {
	ord uint32
	tf  float32
}

// term is one entry of the dictionary.
type term struct {
	text string
	df   int32           // live docs holding the term (BM25's document frequency)
	post []posting       // by ordinal; deleted docs stay until compaction
	bits *roaring.Bitmap // ordinals of post, when len(post) >= bitsMinDF
}

// docEntry is one ordinal: a doc, or nothing once deleted.
type docEntry struct {
	doc     Doc     // without service descriptions
	seq     []byte  // term ids in text order, boundary before each segment (see seq.go)
	length  float32 // field-weighted length, for BM25
	nameKey string  // folded name, for listing without a text query
	tags    int32   // the services' tags: explaining a hit needs it, and counting touches every service
}

// Index is safe for concurrent use: searches run in parallel, Put and Delete
// take turns with them and hold the exclusive lock briefly.
//
// Docs live at ordinals (uint32) in the order they were put. Put of an
// existing ID and Delete leave a dead ordinal behind, masked by the live
// bitmap, until dead ordinals pass a quarter of all and compaction renumbers.
type Index struct {
	// wmu makes writers take turns, so that compaction can build the new
	// core under mu's read lock, with searches going on, and swap it in.
	wmu     sync.Mutex
	mu      sync.RWMutex
	maxDocs int
	core

	stems stemCache // of query words; has its own lock
	words wordCache // query words resolved; has its own lock, taken inside mu
	cache termCache // of doc words; has its own lock, taken outside mu

	compactions int // for tests
}

// core is what compaction rebuilds: everything the index holds of its docs.
type core struct {
	docs      []docEntry
	byID      map[int64]uint32
	live      *roaring.Bitmap
	dead      int
	sumLength float64 // of live docs

	termIDs map[string]uint32
	terms   []term
	dict    dictionary

	filters filterIndex
}

// New returns an empty index that holds up to DefaultMaxDocs docs.
func New() *Index { return NewWithLimit(DefaultMaxDocs) }

// NewWithLimit returns an empty index that holds up to maxDocs docs; Put
// refuses more. maxDocs <= 0 means DefaultMaxDocs.
func NewWithLimit(maxDocs int) *Index {
	if maxDocs <= 0 {
		maxDocs = DefaultMaxDocs
	}
	return &Index{
		maxDocs: maxDocs,
		core: core{
			byID:    map[int64]uint32{},
			live:    roaring.New(),
			termIDs: map[string]uint32{},
			filters: newFilterIndex(),
		},
	}
}

// Put adds d, or replaces the doc with d's ID. It fails, changing nothing,
// when the index already holds its limit of docs. The index keeps a copy of
// d: the caller may change d afterwards.
func (ix *Index) Put(d Doc) error { return ix.PutOwned(cloneDoc(d)) }

// PutOwned is Put without the copy: the index keeps d's slices as they are
// and clears the descriptions in d.Services. The caller must not change any
// of d's slices afterwards (it may go on reading them, as the directory's
// listings do, which share their lists with the doc). It spares a directory
// a second copy of every service and list: memory the collector would mark
// in every cycle.
func (ix *Index) PutOwned(d Doc) error {
	a := ix.cache.analyze(&d) // outside the locks: the slow part of a write
	// Descriptions are the bulk of a doc's text and nothing reads them once
	// indexed: a match in one is explained by its service's title.
	for i := range d.Services {
		d.Services[i].Description = ""
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	old, exists := ix.byID[d.ID]
	if !exists && len(ix.byID) >= ix.maxDocs {
		ix.mu.Unlock()
		return fmt.Errorf("search: put coop %d: %w (%d docs)", d.ID, ErrFull, ix.maxDocs)
	}
	if exists {
		ix.remove(old)
	}
	ix.add(d, a)
	ix.mu.Unlock()
	ix.maybeCompact()
	return nil
}

// Delete removes the doc with id, if any.
func (ix *Index) Delete(id int64) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	ix.mu.Lock()
	ord, ok := ix.byID[id]
	if ok {
		ix.remove(ord)
	}
	ix.mu.Unlock()
	if ok {
		ix.maybeCompact()
	}
}

// Len reports how many docs the index holds.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}

func (ix *Index) add(d Doc, a analyzed) {
	ix.words.reset()
	ord := uint32(len(ix.docs))
	seq := make([]byte, 0, len(a.seq)*2)
	for _, t := range a.seq {
		id := uint32(boundary)
		if t != "" {
			id = ix.intern(t)
		}
		seq = appendSeq(seq, id)
	}
	seq = slices.Clip(seq)
	for t, tf := range a.tf {
		tm := &ix.terms[ix.termIDs[t]]
		tm.post = append(tm.post, posting{ord, tf})
		tm.df++
		switch {
		case tm.bits != nil:
			tm.bits.Add(ord)
		case len(tm.post) >= bitsMinDF:
			tm.bits = postingBits(tm.post)
		}
	}
	tags := 0
	for _, s := range d.Services {
		tags += len(s.Tags)
	}
	ix.docs = append(ix.docs, docEntry{doc: d, seq: seq, length: a.length, nameKey: fold(d.Name), tags: int32(tags)})
	ix.byID[d.ID] = ord
	ix.live.Add(ord)
	ix.sumLength += float64(a.length)
	ix.filters.add(&d, ord)
}

// remove kills the doc at ord: its terms' document frequencies drop now, so
// BM25 stays right, and its postings are skipped until compaction.
func (ix *Index) remove(ord uint32) {
	ix.words.reset()
	e := &ix.docs[ord]
	ids := decodeSeq(nil, e.seq)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for _, id := range ids {
		if id != boundary {
			ix.terms[id].df--
		}
	}
	ix.sumLength -= float64(e.length)
	if len(ix.byID) == 1 {
		ix.sumLength = 0 // no float drift once empty
	}
	delete(ix.byID, e.doc.ID)
	ix.live.Remove(ord)
	ix.filters.remove(&e.doc, ord)
	ix.dead++
	*e = docEntry{}
}

func (ix *Index) intern(t string) uint32 {
	if id, ok := ix.termIDs[t]; ok {
		return id
	}
	id := uint32(len(ix.terms))
	ix.terms = append(ix.terms, term{text: t})
	ix.termIDs[t] = id
	ix.dict.add(ix.terms, id)
	return id
}

func postingBits(post []posting) *roaring.Bitmap {
	ords := make([]uint32, len(post))
	for i, p := range post {
		ords[i] = p.ord
	}
	b := roaring.New()
	b.AddMany(ords)
	return b
}

// cloneDoc copies d's slices: the index keeps d, and the caller may reuse its own.
func cloneDoc(d Doc) Doc {
	d.Skills = slices.Clone(d.Skills)
	d.Languages = slices.Clone(d.Languages)
	d.RegionsServed = slices.Clone(d.RegionsServed)
	d.Services = slices.Clone(d.Services)
	for i := range d.Services {
		d.Services[i].Tags = slices.Clone(d.Services[i].Tags)
	}
	return d
}

// dictionary keeps term ids sorted by text, for prefix lookups. New terms
// wait in a short unsorted tail and are merged in batches, so that building
// an index does not re-sort the dictionary for every new word.
type dictionary struct {
	sorted []uint32
	tail   []uint32
}

const dictTailMax = 512

func (d *dictionary) add(terms []term, id uint32) {
	d.tail = append(d.tail, id)
	if len(d.tail) < dictTailMax {
		return
	}
	byText := func(a, b uint32) int { return strings.Compare(terms[a].text, terms[b].text) }
	slices.SortFunc(d.tail, byText)
	merged := make([]uint32, 0, len(d.sorted)+len(d.tail))
	i, j := 0, 0
	for i < len(d.sorted) && j < len(d.tail) {
		if byText(d.sorted[i], d.tail[j]) < 0 {
			merged = append(merged, d.sorted[i])
			i++
		} else {
			merged = append(merged, d.tail[j])
			j++
		}
	}
	merged = append(merged, d.sorted[i:]...)
	merged = append(merged, d.tail[j:]...)
	d.sorted, d.tail = merged, d.tail[:0]
}

func (d *dictionary) rebuild(terms []term) {
	d.sorted = make([]uint32, len(terms))
	for i := range d.sorted {
		d.sorted[i] = uint32(i)
	}
	slices.SortFunc(d.sorted, func(a, b uint32) int { return strings.Compare(terms[a].text, terms[b].text) })
	d.tail = d.tail[:0]
}

// withPrefix calls fn with the id of every term starting with prefix, the
// sorted part in order, until fn returns false.
func (d *dictionary) withPrefix(terms []term, prefix string, fn func(id uint32) bool) {
	i, _ := slices.BinarySearchFunc(d.sorted, prefix, func(id uint32, p string) int {
		return strings.Compare(terms[id].text, p)
	})
	for ; i < len(d.sorted); i++ {
		id := d.sorted[i]
		if !strings.HasPrefix(terms[id].text, prefix) {
			break
		}
		if !fn(id) {
			return
		}
	}
	for _, id := range d.tail {
		if strings.HasPrefix(terms[id].text, prefix) && !fn(id) {
			return
		}
	}
}
