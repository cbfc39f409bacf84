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

// unset takes ord out of the bitmap of v, and drops the bitmap once empty.
func (f *filterIndex) unset(k filterKind, v string, ord uint32) {
	key := filterKey(k, v)
	b := f.values[k][key]
	if b == nil {
		return
	}
	b.Remove(ord)
	if b.IsEmpty() {
		delete(f.values[k], key)
	}
}

// add records the doc at ord under each of its filter values.
func (f *filterIndex) add(d *Doc, ord uint32) { f.each(d, ord, f.set, (*roaring.Bitmap).Add) }

// remove takes the doc at ord out again, so that the filters hold only live
// docs: a query needs no intersection with the live bitmap.
func (f *filterIndex) remove(d *Doc, ord uint32) { f.each(d, ord, f.unset, (*roaring.Bitmap).Remove) }

// each calls value for every filter value of d, and flag for the flags it has.
func (f *filterIndex) each(d *Doc, ord uint32, value func(filterKind, string, uint32), flag func(*roaring.Bitmap, uint32)) {
	for _, s := range d.Skills {
		value(filterSkill, s, ord)
	}
	for _, s := range d.Services {
		value(filterCategory, s.Category, ord)
		value(filterPricing, s.Pricing, ord)
		for _, t := range s.Tags {
			value(filterSkill, t, ord)
		}
	}
	value(filterCountry, d.Country, ord)
	value(filterRegion, d.Region, ord)
	for _, r := range d.RegionsServed {
		value(filterRegion, r, ord)
	}
	for _, l := range d.Languages {
		value(filterLanguage, l, ord)
	}
	if d.RemoteFriendly {
		flag(f.remote, ord)
	}
	if c := fold(strings.TrimSpace(d.Capacity)); c == "open" || c == "limited" {
		flag(f.accepting, ord)
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
