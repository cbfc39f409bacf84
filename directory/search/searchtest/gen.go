// Package searchtest makes realistic directory data for the search index's
// tests and benchmarks: seeded, so every run sees the same coops.
package searchtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/coopnet/coopnet/directory/search"
)

// Categories are the service categories the directory knows.
var Categories = []string{"web-development", "hosting", "data-crm", "design", "it-support", "training", "security", "strategy", "other"}

// Pricing are the pricing models a service may have.
var Pricing = []string{"hourly", "fixed", "sliding-scale", "pro-bono"}

// Generate returns coops docs, each with servicesPerCoop services, in a
// mix of English, Spanish, French, German, Portuguese and Italian. The same
// seed gives the same docs. IDs start at 1; service IDs are unique.
func Generate(seed int64, coops, servicesPerCoop int) []search.Doc {
	g := gen{r: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}
	docs := make([]search.Doc, coops)
	svcID := int64(0)
	for i := range docs {
		docs[i] = g.coop(int64(i+1), servicesPerCoop, &svcID)
	}
	return docs
}

// Queries returns n queries of one to three words, as people type them into
// the directory, each with a region or a skill filter.
func Queries(seed int64, n int) []search.Query {
	g := gen{r: rand.New(rand.NewPCG(uint64(seed), 0x9e11))}
	qs := make([]search.Query, n)
	for i := range qs {
		// Words about one kind of work, as people search, sometimes with
		// the language they want to work in.
		cat := g.pickCategory()
		var words []string
		for n := 1 + g.r.IntN(3); len(words) < n; {
			w := g.pick(queryWords[cat.name])
			if len(words) > 0 && g.r.IntN(5) == 0 {
				w = g.pick(languageWords)
			}
			if !slices.Contains(words, w) {
				words = append(words, w)
			}
		}
		q := search.Query{Text: strings.Join(words, " ")}
		if g.r.IntN(2) == 0 {
			c := g.country(g.language())
			q.Regions = []string{g.pick(c.regions)}
		} else {
			q.Skills = []string{g.pick(g.pickCategory().tags)}
		}
		qs[i] = q
	}
	return qs
}

type gen struct{ r *rand.Rand }

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

// language picks a language, weighted as a mostly English, then Spanish,
// directory would be.
func (g *gen) language() string {
	n := g.r.IntN(100)
	switch {
	case n < 45:
		return "en"
	case n < 67:
		return "es"
	case n < 79:
		return "fr"
	case n < 88:
		return "de"
	case n < 96:
		return "pt"
	}
	return "it"
}

func (g *gen) country(lang string) country {
	cs := countries[lang]
	return cs[g.r.IntN(len(cs))]
}

func (g *gen) pickCategory() *category {
	return &categories[g.r.IntN(len(categories))]
}

func (g *gen) coop(id int64, nServices int, svcID *int64) search.Doc {
	lang := g.language()
	tag := lang
	if lang == "pt" && g.r.IntN(2) == 0 {
		tag = "pt-BR"
	}
	c := g.country(lang)
	t := texts[lang]
	d := search.Doc{
		ID:             id,
		Languages:      []string{tag},
		Country:        c.code,
		Region:         g.pick(c.regions),
		City:           g.pick(c.cities),
		RemoteFriendly: g.r.IntN(10) < 7,
		Capacity:       []string{"open", "open", "limited", "closed"}[g.r.IntN(4)],
	}
	if lang != "en" && g.r.IntN(3) == 0 {
		d.Languages = append(d.Languages, "en")
	}
	if g.r.IntN(10) == 0 {
		d.Languages = append(d.Languages, g.language())
	}
	d.RegionsServed = []string{d.Region}
	for range g.r.IntN(3) {
		d.RegionsServed = append(d.RegionsServed, g.pick(c.regions))
	}
	// A coop does a few kinds of work; its services and skills follow them.
	main := []*category{g.pickCategory(), g.pickCategory()}
	if g.r.IntN(2) == 0 {
		main = append(main, g.pickCategory())
	}
	d.Name = g.name(lang)
	for range 3 + g.r.IntN(4) {
		if s := g.pick(main[g.r.IntN(len(main))].tags); !slices.Contains(d.Skills, s) {
			d.Skills = append(d.Skills, s)
		}
	}
	d.Summary = fmt.Sprintf(g.pick(t.summaries), g.pick(t.audiences), g.pick(main[0].tags), g.pick(main[1].tags))
	for range nServices {
		cat := main[g.r.IntN(len(main))]
		if g.r.IntN(5) == 0 {
			cat = g.pickCategory()
		}
		*svcID++
		d.Services = append(d.Services, g.service(*svcID, lang, cat))
	}
	return d
}

func (g *gen) name(lang string) string {
	t := texts[lang]
	second := g.pick(t.nameWords)
	if g.r.IntN(2) == 0 {
		second = g.coined()
	}
	return fmt.Sprintf(g.pick(t.names), g.pick(t.nameWords), second)
}

var syllables = []string{"ta", "ve", "lo", "mu", "ri", "sa", "ko", "na", "pe", "lu", "da", "mi", "zo", "ra", "ne", "bo", "ki", "sol", "mar", "tel", "vin", "dor", "ca", "fe", "gu", "ja", "xi", "wen", "qua", "ber"}

// coined makes up a proper noun, as coop, client and project names are:
// they give the vocabulary its long tail of rare words.
func (g *gen) coined() string {
	var b strings.Builder
	for range 2 + g.r.IntN(2) {
		b.WriteString(g.pick(syllables))
	}
	w := b.String()
	return strings.ToUpper(w[:1]) + w[1:]
}

func (g *gen) service(id int64, lang string, cat *category) search.Service {
	t := texts[lang]
	tag1, tag2 := g.pick(cat.tags), g.pick(cat.tags)
	for tag2 == tag1 {
		tag2 = g.pick(cat.tags)
	}
	titles := cat.titles[lang]
	s := search.Service{
		ID:       id,
		Title:    fmt.Sprintf(g.pick(titles), tag1),
		Category: cat.name,
		Tags:     []string{tag1, tag2},
		Pricing:  Pricing[[]int{0, 0, 0, 1, 1, 2, 2, 3}[g.r.IntN(8)]],
	}
	if tag := g.pick(cat.tags); g.r.IntN(3) == 0 && !slices.Contains(s.Tags, tag) {
		s.Tags = append(s.Tags, tag)
	}
	var desc []string
	for range 2 + g.r.IntN(3) {
		desc = append(desc, fmt.Sprintf(g.pick(t.sentences), g.pick(cat.tags), g.pick(t.audiences), g.pick(cat.work[lang])))
	}
	if g.r.IntN(3) == 0 {
		desc = append(desc, fmt.Sprintf(t.project, g.coined()))
	}
	s.Description = strings.Join(desc, " ")
	return s
}
