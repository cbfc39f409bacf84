package search

import (
	"cmp"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// facets counts, per value of each faceted filter, the docs matching the
// text and every filter but the facet's own: picking a category still shows
// how many docs the other categories would give.
func (ix *Index) facets(text *roaring.Bitmap, filters []activeFilter) Facets {
	var all *roaring.Bitmap // text with every filter, shared by unfiltered facets
	count := func(k filterKind) []FacetCount {
		var base *roaring.Bitmap
		if slices.ContainsFunc(filters, func(f activeFilter) bool { return f.kind == k }) {
			base = intersect(text, filters, k)
		} else {
			if all == nil {
				all = intersect(text, filters, noFilter)
			}
			base = all
		}
		var out []FacetCount
		if base.IsEmpty() {
			return out
		}
		for v, b := range ix.filters.values[k] {
			if n := base.AndCardinality(b); n > 0 {
				out = append(out, FacetCount{Value: v, Count: int(n)})
			}
		}
		slices.SortFunc(out, func(a, b FacetCount) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return cmp.Compare(a.Value, b.Value)
		})
		return out
	}
	return Facets{
		Categories: count(filterCategory),
		Countries:  count(filterCountry),
		Languages:  count(filterLanguage),
		Pricing:    count(filterPricing),
	}
}
