package search

import (
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// filterKind is one of Query's filters.
type filterKind int

const (
	filterCategory filterKind = iota
	filterSkill
	filterCountry
	filterRegion
	filterLanguage
	filterPricing
	numValueFilters // the filters above take values; the two below are flags
	filterRemote    = numValueFilters
	filterAccepting = numValueFilters + 1
)

// filterIndex holds, per filter, a bitmap of ordinals for each value.
type filterIndex struct {
	values    [numValueFilters]map[string]*roaring.Bitmap
	remote    *roaring.Bitmap
	accepting *roaring.Bitmap
}

func newFilterIndex() filterIndex {
	var f filterIndex
	for i := range f.values {
		f.values[i] = map[string]*roaring.Bitmap{}
	}
	f.remote, f.accepting = roaring.New(), roaring.New()
	return f
}

// filterKey normalizes a filter value the same way for docs and queries.
func filterKey(k filterKind, v string) string {
	switch k {
	case filterCountry:
		return strings.ToUpper(strings.TrimSpace(v))
	case filterLanguage:
		return primarySubtag(v)
	default:
		return strings.Join(strings.Fields(fold(v)), " ")
	}
}

func (f *filterIndex) set(k filterKind, v string, ord uint32) {
	key := filterKey(k, v)
	if key == "" {
		return
	}
	b := f.values[k][key]
	if b == nil {
		b = roaring.New()
		f.values[k][key] = b
	}
	b.Add(ord)
}

// add records the doc at ord under each of its filter values. Nothing is
// removed on delete: queries intersect with the live bitmap.
func (f *filterIndex) add(d *Doc, ord uint32) {
	for _, s := range d.Skills {
		f.set(filterSkill, s, ord)
	}
	for _, s := range d.Services {
		f.set(filterCategory, s.Category, ord)
		f.set(filterPricing, s.Pricing, ord)
		for _, t := range s.Tags {
			f.set(filterSkill, t, ord)
		}
	}
	f.set(filterCountry, d.Country, ord)
	f.set(filterRegion, d.Region, ord)
	for _, r := range d.RegionsServed {
		f.set(filterRegion, r, ord)
	}
	for _, l := range d.Languages {
		f.set(filterLanguage, l, ord)
	}
	if d.RemoteFriendly {
		f.remote.Add(ord)
	}
	if c := fold(strings.TrimSpace(d.Capacity)); c == "open" || c == "limited" {
		f.accepting.Add(ord)
	}
}

// activeFilter is one filter of a query as the set of ordinals it allows.
// bits may be shared with the index: never change it.
type activeFilter struct {
	kind filterKind
	bits *roaring.Bitmap
}

// queryValues returns the values q gives for filter k.
func queryValues(q *Query, k filterKind) []string {
	switch k {
	case filterCategory:
		return q.Categories
	case filterSkill:
		return q.Skills
	case filterCountry:
		return q.Countries
	case filterRegion:
		return q.Regions
	case filterLanguage:
		return q.Languages
	case filterPricing:
		return q.Pricing
	}
	return nil
}

// active returns q's filters, each the union of its values' bitmaps.
func (f *filterIndex) active(q *Query) []activeFilter {
	var out []activeFilter
	for k := filterKind(0); k < numValueFilters; k++ {
		vals := queryValues(q, k)
		if len(vals) == 0 {
			continue
		}
		var bms []*roaring.Bitmap
		for _, v := range vals {
			if b := f.values[k][filterKey(k, v)]; b != nil {
				bms = append(bms, b)
			}
		}
		var bits *roaring.Bitmap
		switch len(bms) {
		case 0:
			bits = roaring.New()
		case 1:
			bits = bms[0]
		default:
			bits = roaring.FastOr(bms...)
		}
		out = append(out, activeFilter{k, bits})
	}
	if q.RemoteFriendly {
		out = append(out, activeFilter{filterRemote, f.remote})
	}
	if q.AcceptingWork {
		out = append(out, activeFilter{filterAccepting, f.accepting})
	}
	return out
}

// intersect returns base ANDed with every filter but skip's. The result is
// base itself when no filter applies: never change it.
func intersect(base *roaring.Bitmap, filters []activeFilter, skip filterKind) *roaring.Bitmap {
	var out *roaring.Bitmap
	for _, f := range filters {
		switch {
		case f.kind == skip:
		case out == nil:
			out = roaring.And(base, f.bits)
		default:
			out.And(f.bits)
		}
	}
	if out == nil {
		return base
	}
	return out
}
