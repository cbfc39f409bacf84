package search

import "unsafe"

// Stats reports the index's size. Bytes is an estimate: the capacity of the
// slices, the strings and map entries held, and the bitmaps' own estimate.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	const mapEntry = 16 // a map's per-entry overhead beyond key and value, roughly
	var b int64
	b += int64(cap(ix.docs)) * int64(unsafe.Sizeof(docEntry{}))
	for i := range ix.docs {
		e := &ix.docs[i]
		b += int64(cap(e.seq)) + int64(len(e.nameKey)) + docBytes(&e.doc)
	}
	b += int64(len(ix.byID)) * (8 + 4 + mapEntry)
	b += int64(ix.live.GetSizeInBytes())
	terms := 0
	b += int64(cap(ix.terms)) * int64(unsafe.Sizeof(term{}))
	for i := range ix.terms {
		tm := &ix.terms[i]
		if tm.df > 0 {
			terms++
		}
		b += int64(len(tm.text)) + int64(cap(tm.post))*int64(unsafe.Sizeof(posting{}))
		if tm.bits != nil {
			b += int64(tm.bits.GetSizeInBytes())
		}
	}
	// The map's keys share the terms' text.
	b += int64(len(ix.termIDs)) * (int64(unsafe.Sizeof("")) + 4 + mapEntry)
	b += int64(cap(ix.dict.sorted)+cap(ix.dict.tail)) * 4
	for _, m := range ix.filters.values {
		for k, bm := range m {
			b += int64(len(k)) + int64(unsafe.Sizeof("")) + 8 + mapEntry + int64(bm.GetSizeInBytes())
		}
	}
	b += int64(ix.filters.remote.GetSizeInBytes() + ix.filters.accepting.GetSizeInBytes())
	b += ix.cache.size() + ix.stems.size() + ix.words.size()
	return Stats{Docs: len(ix.byID), Terms: terms, Bytes: b}
}

// docBytes estimates the memory a Doc's strings and slices hold beyond the
// Doc itself.
func docBytes(d *Doc) int64 {
	str := int64(unsafe.Sizeof(""))
	b := int64(len(d.Name) + len(d.Summary) + len(d.Country) + len(d.Region) + len(d.City) + len(d.Capacity))
	for _, list := range [][]string{d.Skills, d.Languages, d.RegionsServed} {
		b += int64(cap(list)) * str
		for _, s := range list {
			b += int64(len(s))
		}
	}
	b += int64(cap(d.Services)) * int64(unsafe.Sizeof(Service{}))
	for _, s := range d.Services {
		b += int64(len(s.Title) + len(s.Description) + len(s.Category) + len(s.Pricing))
		b += int64(cap(s.Tags)) * str
		for _, t := range s.Tags {
			b += int64(len(t))
		}
	}
	return b
}
