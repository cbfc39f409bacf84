package search

// field is a kind of text in a Doc.
type field uint8

const (
	fieldName field = iota
	fieldSummary
	fieldSkill
	fieldTitle       // a service's title
	fieldDescription // a service's description
	fieldCategory    // a service's category, as words
	fieldTag         // a service's tag
	fieldLanguage    // a language's names
	fieldRegion      // region, regions served and city
	numFields
)

// fieldWeights scale a term's frequency by where it occurs: a word in the
// name or a skill says more about a coop than one in a long description.
var fieldWeights = [numFields]float32{
	fieldName:        3,
	fieldSummary:     1,
	fieldSkill:       2.5,
	fieldTitle:       2,
	fieldDescription: 1,
	fieldCategory:    1.5,
	fieldTag:         2.5,
	fieldLanguage:    0.5,
	fieldRegion:      0.5,
}

// maxDocTerms caps the terms indexed per doc, so that one huge profile cannot
// take the memory meant for many: text past it is not searchable.
const maxDocTerms = 8192

// eachSegment calls fn with every piece of text of d that is indexed, in an
// order that indexing and explaining matches share: a doc's term sequence is
// these segments, each preceded by a boundary. The order is that of the
// reasons a hit shows (name, skills, tags, service titles...), so that
// explaining a hit stops at the first few segments that match. i is the
// index of the text's item in its slice (d.Skills, d.Services, d.Languages;
// for regions 0 is Region, then RegionsServed, then City), and tag the
// index of a tag in its service's Tags.
func eachSegment(d *Doc, fn func(f field, text string, i, tag int)) {
	fn(fieldName, d.Name, 0, 0)
	for i, s := range d.Skills {
		fn(fieldSkill, s, i, 0)
	}
	for i := range d.Services {
		for j, t := range d.Services[i].Tags {
			fn(fieldTag, t, i, j)
		}
	}
	for i := range d.Services {
		fn(fieldTitle, d.Services[i].Title, i, 0)
	}
	for i := range d.Services {
		fn(fieldCategory, d.Services[i].Category, i, 0)
	}
	for i := range d.Services {
		fn(fieldDescription, d.Services[i].Description, i, 0)
	}
	fn(fieldSummary, d.Summary, 0, 0)
	for i, l := range d.Languages {
		fn(fieldLanguage, languageText(l), i, 0)
	}
	fn(fieldRegion, d.Region, 0, 0)
	for i, r := range d.RegionsServed {
		fn(fieldRegion, r, i+1, 0)
	}
	fn(fieldRegion, d.City, len(d.RegionsServed)+1, 0)
}

// analyzed is a doc turned into terms, before the index assigns them ids:
// done outside the index's lock so that writes hold it briefly.
type analyzed struct {
	seq    []string // terms in order; "" marks the start of each segment
	tf     map[string]float32
	length float32 // the doc's field-weighted length, for BM25
}

// analyze turns d into terms, stemmed with the doc's language. Language
// names are kept unstemmed: queries always look words up unstemmed too.
func (c *termCache) analyze(d *Doc) analyzed {
	c.mu.Lock()
	defer c.mu.Unlock()
	lang := docLang(d.Languages)
	a := analyzed{tf: make(map[string]float32, 64)}
	n := 0
	eachSegment(d, func(f field, text string, _, _ int) {
		a.seq = append(a.seq, "")
		if n >= maxDocTerms {
			return
		}
		l := lang
		if f == fieldLanguage {
			l = -1
		}
		start := len(a.seq)
		a.seq = c.appendTerms(a.seq, text, l)
		if n+len(a.seq)-start > maxDocTerms {
			a.seq = a.seq[:start+maxDocTerms-n]
		}
		n += len(a.seq) - start
		w := fieldWeights[f]
		for _, t := range a.seq[start:] {
			a.tf[t] += w
			a.length += w
		}
	})
	return a
}
