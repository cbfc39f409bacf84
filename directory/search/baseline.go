package search

import (
	"slices"
	"strings"
)

// Baseline is a deliberately naive index for benchmarks to compare with: a
// map from lower-cased word to doc positions, AND of the words, ranked by
// how often they occur, filters checked by scanning each candidate. No
// stemming, folding, phrases, prefixes, facets or updates.
type Baseline struct {
	docs  []Doc
	terms map[string][]int // word -> doc positions, once per occurrence
}

// NewBaseline indexes docs.
func NewBaseline(docs []Doc) *Baseline {
	b := &Baseline{docs: docs, terms: map[string][]int{}}
	for i, d := range docs {
		text := []string{d.Name, d.Summary, strings.Join(d.Skills, " ")}
		for _, s := range d.Services {
			text = append(text, s.Title, s.Description, strings.Join(s.Tags, " "))
		}
		for _, w := range strings.FieldsFunc(strings.ToLower(strings.Join(text, " ")), notWord) {
			b.terms[w] = append(b.terms[w], i)
		}
	}
	return b
}

func notWord(r rune) bool { return !isWordRune(r) }

// Search returns the IDs of the docs holding every word of q.Text and
// passing its filters, most occurrences first, at most q.Limit (default 20).
func (b *Baseline) Search(q Query) []int64 {
	var tf map[int]int // doc position -> occurrences of the words so far
	for _, w := range strings.FieldsFunc(strings.ToLower(q.Text), notWord) {
		next := map[int]int{}
		for _, d := range b.terms[w] {
			if tf == nil || tf[d] > 0 {
				next[d]++
			}
		}
		for d := range next {
			next[d] += tf[d]
		}
		tf = next
	}
	var hits []int
	for d := range tf {
		if b.passes(&b.docs[d], &q) {
			hits = append(hits, d)
		}
	}
	slices.SortFunc(hits, func(x, y int) int { return tf[y] - tf[x] })
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	ids := make([]int64, 0, limit)
	for _, d := range hits[:min(limit, len(hits))] {
		ids = append(ids, b.docs[d].ID)
	}
	return ids
}

func (b *Baseline) passes(d *Doc, q *Query) bool {
	var cats, tags []string
	for _, s := range d.Services {
		cats = append(cats, s.Category)
		tags = append(tags, s.Tags...)
	}
	anyIn := func(want, have []string) bool {
		return len(want) == 0 || slices.ContainsFunc(want, func(w string) bool {
			return slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(w, h) })
		})
	}
	return anyIn(q.Categories, cats) && anyIn(q.Skills, append(tags, d.Skills...)) &&
		anyIn(q.Countries, []string{d.Country}) && anyIn(q.Regions, slices.Concat(d.RegionsServed, []string{d.Region})) &&
		(!q.RemoteFriendly || d.RemoteFriendly)
}
