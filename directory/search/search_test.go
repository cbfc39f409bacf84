package search

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// fixture is five coops in five languages.
func fixture() []Doc {
	return []Doc{
		{ID: 1, Name: "Tejido Digital", Summary: "Cooperativa de trabajo que acompaña a organizaciones sociales.",
			Skills: []string{"CiviCRM", "Drupal"}, Languages: []string{"es", "en"}, Country: "ES", Region: "Cataluña",
			City: "Barcelona", RegionsServed: []string{"Cataluña", "Aragón"}, RemoteFriendly: true, Capacity: "open",
			Services: []Service{{ID: 11, Title: "Migración de datos a CiviCRM", Description: "Migramos los datos de tus socias desde hojas de cálculo.",
				Category: "data-crm", Tags: []string{"civicrm", "data migration"}, Pricing: "sliding-scale"}}},
		{ID: 2, Name: "Open Harbor Cooperative", Summary: "A worker-owned cooperative building accessible websites for nonprofits.",
			Skills: []string{"WordPress", "Accessibility"}, Languages: []string{"en"}, Country: "US", Region: "California",
			City: "Oakland", RegionsServed: []string{"California"}, RemoteFriendly: true, Capacity: "limited",
			Services: []Service{
				{ID: 21, Title: "Accessible WordPress websites", Description: "We build and audit accessible sites.",
					Category: "web-development", Tags: []string{"wordpress", "accessibility"}, Pricing: "fixed"},
				{ID: 22, Title: "CiviCRM data migration", Description: "Moving donor data into CiviCRM.",
					Category: "data-crm", Tags: []string{"civicrm"}, Pricing: "hourly"},
			}},
		{ID: 3, Name: "Coopérative Libre Code", Summary: "Hébergement et formation pour associations.",
			Skills: []string{"Nextcloud"}, Languages: []string{"fr"}, Country: "FR", Region: "Bretagne", City: "Rennes", Capacity: "closed",
			Services: []Service{{ID: 31, Title: "Hébergement Nextcloud", Description: "Sauvegardes quotidiennes et migration hors des GAFAM.",
				Category: "hosting", Tags: []string{"nextcloud", "hosting"}, Pricing: "pro-bono"}}},
		{ID: 4, Name: "Brücke Genossenschaft", Summary: "Datenmigration und Schulungen für Vereine.",
			Skills: []string{"Odoo"}, Languages: []string{"de"}, Country: "DE", Region: "Berlin", Capacity: "open",
			Services: []Service{{ID: 41, Title: "Datenmigration nach Odoo", Category: "data-crm", Tags: []string{"odoo"}, Pricing: "hourly"}}},
		{ID: 5, Name: "Semente Cooperativa", Summary: "Design e identidade visual para movimentos sociais.",
			Skills: []string{"Branding"}, Languages: []string{"pt-BR"}, Country: "BR", Region: "São Paulo", RemoteFriendly: true, Capacity: "limited",
			Services: []Service{{ID: 51, Title: "Identidade visual para campanhas", Description: "Logotipos e guias de estilo. Também fazemos sites WordPress.",
				Category: "design", Tags: []string{"branding"}, Pricing: "sliding-scale"}}},
	}
}

func newIndex(t *testing.T, docs []Doc) *Index {
	t.Helper()
	ix := New()
	for _, d := range docs {
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

func search(t *testing.T, ix *Index, q Query) Results {
	t.Helper()
	res, err := ix.Search(q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return res
}

func ids(res Results) []int64 {
	out := []int64{}
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	return out
}

func sorted(ids []int64) []int64 {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func TestSearchText(t *testing.T) {
	ix := newIndex(t, fixture())
	tests := []struct {
		name    string
		text    string
		want    []int64 // any order
		relaxed bool
	}{
		{"tag and skill", "civicrm", []int64{1, 2}, false},
		{"Spanish word, Spanish stem", "migración", []int64{1}, false},
		{"Spanish word typed without accent", "migracion", []int64{1}, false},
		{"English word, English and French stems", "migration", []int64{1, 2, 3}, false},
		{"language name in English", "civicrm migration spanish", []int64{1}, false},
		{"language name in the language", "civicrm español", []int64{1}, false},
		{"case and accents", "HEBERGEMENT", []int64{3}, false},
		{"every word must match", "civicrm donor", []int64{2}, false},
		{"no doc has both: relaxed", "nextcloud branding", []int64{3, 5}, true},
		{"nothing at all", "blockchain ", []int64{}, false},
		{"phrase", `"data migration"`, []int64{1, 2}, false},
		{"phrase in the wrong order", `"migration data"`, []int64{}, false},
		{"phrase and word", `"data migration" donor`, []int64{2}, false},
		{"phrase does not span fields", `"cooperative accessible"`, []int64{}, false},
		{"prefix of the last word", "wordp", []int64{2, 5}, false},
		{"no prefix after a space", "wordp ", []int64{}, false},
		{"prefix after a full word", "civicrm dat", []int64{1, 2}, false},
		{"word cut inside its suffix", "civicrm migrati", []int64{1, 2}, false}, // "migrat", and Italian "migr"
		{"stopwords are ignored", "the civicrm and the ", []int64{1, 2}, false},
		{"a stopword being typed", "civicrm the", []int64{1, 2}, false},
		{"region name", "oakland", []int64{2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := search(t, ix, Query{Text: tt.text})
			if got := sorted(ids(res)); !slices.Equal(got, tt.want) {
				t.Errorf("%q found %v, want %v", tt.text, got, tt.want)
			}
			if res.Relaxed != tt.relaxed {
				t.Errorf("%q relaxed = %v, want %v", tt.text, res.Relaxed, tt.relaxed)
			}
			if res.Total != len(tt.want) {
				t.Errorf("%q total = %d, want %d", tt.text, res.Total, len(tt.want))
			}
		})
	}
}

func TestRanking(t *testing.T) {
	// Ten coops say "website" somewhere; one of them also says "drupal".
	var docs []Doc
	for i := range 10 {
		docs = append(docs, Doc{ID: int64(i + 1), Name: "Coop " + strings.Repeat("x", i),
			Summary: "We build websites for community groups and unions."})
	}
	docs[3].Summary += " Drupal too."
	docs = append(docs,
		Doc{ID: 20, Name: "Drupal Collective", Summary: "A collective of developers."},
		Doc{ID: 21, Name: "Pixel Co-op", Summary: "Design studio.",
			Services: []Service{{ID: 210, Title: "Drupal theming", Category: "design"}}},
		Doc{ID: 22, Name: "Lantern Co-op", Summary: "Design studio.",
			Services: []Service{{ID: 220, Title: "Print design", Description: "Posters, leaflets, and we have used Drupal once."}}},
	)
	ix := newIndex(t, docs)
	tests := []struct {
		name  string
		text  string
		first []int64 // the hits that must lead, in order
	}{
		{"name beats title beats description", "drupal", []int64{20, 21}},
		{"title beats a description mention", "drupal ", []int64{20, 21}},
		{"the rarer word weighs more", "drupal websites ", []int64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(search(t, ix, Query{Text: tt.text}))
			if len(got) < len(tt.first) || !slices.Equal(got[:len(tt.first)], tt.first) {
				t.Errorf("%q ranked %v, want it to start with %v", tt.text, got, tt.first)
			}
		})
	}
	got := ids(search(t, ix, Query{Text: "drupal"}))
	if last := got[len(got)-1]; last != 22 && last != 4 {
		t.Errorf("drupal ranked %v: a description or summary mention should come last", got)
	}
}

func TestRankingRelaxedPrefersRareWord(t *testing.T) {
	var docs []Doc
	for i := range 10 {
		docs = append(docs, Doc{ID: int64(i + 1), Name: "Coop", Summary: "We build websites for community groups."})
	}
	docs = append(docs, Doc{ID: 20, Name: "Coop", Summary: "We build Drupal sites for community groups."})
	ix := newIndex(t, docs)
	res := search(t, ix, Query{Text: "drupal websites "})
	if !res.Relaxed || len(res.Hits) != 11 || res.Hits[0].ID != 20 {
		t.Errorf("drupal websites: relaxed %v, hits %v; want relaxed, 20 first of 11", res.Relaxed, ids(res))
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Score > res.Hits[i-1].Score {
			t.Errorf("scores rise at %d: %+v", i, res.Hits)
		}
	}
}

func TestPrefixPrefersExact(t *testing.T) {
	ix := newIndex(t, []Doc{
		{ID: 1, Name: "Data Coop", Summary: "data work"},
		{ID: 2, Name: "Database Coop", Summary: "databases"},
	})
	got := ids(search(t, ix, Query{Text: "data"}))
	if !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("data ranked %v, want the exact word first: [1 2]", got)
	}
	if got := ids(search(t, ix, Query{Text: "data "})); !slices.Equal(got, []int64{1}) {
		t.Errorf("data + space found %v, want [1]", got)
	}
}

func TestFilters(t *testing.T) {
	ix := newIndex(t, fixture())
	tests := []struct {
		name string
		q    Query
		want []int64
	}{
		{"category", Query{Categories: []string{"data-crm"}}, []int64{1, 2, 4}},
		{"category, either value", Query{Categories: []string{"design", "hosting"}}, []int64{3, 5}},
		{"pricing", Query{Pricing: []string{"pro-bono"}}, []int64{3}},
		{"pricing of any service", Query{Pricing: []string{"hourly"}}, []int64{2, 4}},
		{"skill, as a skill", Query{Skills: []string{"Drupal"}}, []int64{1}},
		{"skill, as a skill or a tag", Query{Skills: []string{"civicrm"}}, []int64{1, 2}},
		{"skill, a tag of two words", Query{Skills: []string{"Data Migration"}}, []int64{1}},
		{"skill, exact tag only", Query{Skills: []string{"data"}}, []int64{}},
		{"country", Query{Countries: []string{"de"}}, []int64{4}},
		{"countries", Query{Countries: []string{"DE", "FR"}}, []int64{3, 4}},
		{"region served, accents folded", Query{Regions: []string{"aragon"}}, []int64{1}},
		{"own region", Query{Regions: []string{"Berlin"}}, []int64{4}},
		{"language by primary subtag", Query{Languages: []string{"pt"}}, []int64{5}},
		{"second language", Query{Languages: []string{"en"}}, []int64{1, 2}},
		{"remote friendly", Query{RemoteFriendly: true}, []int64{1, 2, 5}},
		{"accepting work", Query{AcceptingWork: true}, []int64{1, 2, 4, 5}},
		{"filters together", Query{Categories: []string{"data-crm"}, Countries: []string{"US"}}, []int64{2}},
		{"filter and text", Query{Text: "migration", Categories: []string{"data-crm"}}, []int64{1, 2}},
		{"unknown value", Query{Countries: []string{"ZZ"}}, []int64{}},
		{"nothing: all docs", Query{}, []int64{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := search(t, ix, tt.q)
			if got := sorted(ids(res)); !slices.Equal(got, tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListWithoutText(t *testing.T) {
	ix := newIndex(t, fixture())
	// By folded name: Brücke, Coopérative, Open, Semente, Tejido.
	res := search(t, ix, Query{})
	if got := ids(res); !slices.Equal(got, []int64{4, 3, 2, 5, 1}) || res.Total != 5 {
		t.Errorf("all docs: %v (total %d), want [4 3 2 5 1] by name", got, res.Total)
	}
	res = search(t, ix, Query{Offset: 2, Limit: 2})
	if got := ids(res); !slices.Equal(got, []int64{2, 5}) || res.Total != 5 {
		t.Errorf("page 2: %v (total %d), want [2 5] of 5", got, res.Total)
	}
	res = search(t, ix, Query{Offset: 10})
	if len(res.Hits) != 0 || res.Total != 5 {
		t.Errorf("past the end: %v (total %d)", ids(res), res.Total)
	}
}

func TestFacets(t *testing.T) {
	ix := newIndex(t, fixture())
	res := search(t, ix, Query{Categories: []string{"data-crm"}, Facets: true})
	// Categories ignore their own filter: every doc counts.
	wantCats := []FacetCount{{"data-crm", 3}, {"design", 1}, {"hosting", 1}, {"web-development", 1}}
	if !slices.Equal(res.Facets.Categories, wantCats) {
		t.Errorf("categories = %v, want %v", res.Facets.Categories, wantCats)
	}
	// Other facets count the data-crm docs only.
	wantCountries := []FacetCount{{"DE", 1}, {"ES", 1}, {"US", 1}}
	if !slices.Equal(res.Facets.Countries, wantCountries) {
		t.Errorf("countries = %v, want %v", res.Facets.Countries, wantCountries)
	}
	wantLangs := []FacetCount{{"en", 2}, {"de", 1}, {"es", 1}}
	if !slices.Equal(res.Facets.Languages, wantLangs) {
		t.Errorf("languages = %v, want %v", res.Facets.Languages, wantLangs)
	}
	wantPricing := []FacetCount{{"hourly", 2}, {"fixed", 1}, {"sliding-scale", 1}}
	if !slices.Equal(res.Facets.Pricing, wantPricing) {
		t.Errorf("pricing = %v, want %v", res.Facets.Pricing, wantPricing)
	}

	// With text: only the docs the text matches count.
	res = search(t, ix, Query{Text: "civicrm", Countries: []string{"US"}, Facets: true})
	if want := []FacetCount{{"ES", 1}, {"US", 1}}; !slices.Equal(res.Facets.Countries, want) {
		t.Errorf("civicrm countries = %v, want %v", res.Facets.Countries, want)
	}
	if want := []FacetCount{{"data-crm", 1}, {"web-development", 1}}; !slices.Equal(res.Facets.Categories, want) {
		t.Errorf("civicrm in US categories = %v, want %v", res.Facets.Categories, want)
	}
	if res := search(t, ix, Query{Text: "civicrm"}); res.Facets.Countries != nil {
		t.Errorf("facets counted without being asked: %v", res.Facets)
	}
}

func TestMatched(t *testing.T) {
	ix := newIndex(t, fixture())
	res := search(t, ix, Query{Text: "civicrm", Countries: []string{"US"}})
	want := []Match{
		{Field: "tag", Text: "civicrm", ServiceID: 22},
		{Field: "service", Text: "CiviCRM data migration", ServiceID: 22},
	}
	if len(res.Hits) != 1 || !slices.Equal(res.Hits[0].Matched, want) {
		t.Fatalf("matched = %+v, want %+v", res.Hits, want)
	}
	res = search(t, ix, Query{Text: "civicrm", Countries: []string{"ES"}})
	want = []Match{
		{Field: "skill", Text: "CiviCRM"},
		{Field: "tag", Text: "civicrm", ServiceID: 11},
		{Field: "service", Text: "Migración de datos a CiviCRM", ServiceID: 11},
	}
	if len(res.Hits) != 1 || !slices.Equal(res.Hits[0].Matched, want) {
		t.Errorf("matched = %+v, want %+v", res.Hits[0].Matched, want)
	}
	// A word only in a description names its service; languages and
	// regions are reasons too.
	res = search(t, ix, Query{Text: "donor english oakland"})
	want = []Match{
		{Field: "service", Text: "CiviCRM data migration", ServiceID: 22},
		{Field: "language", Text: "en"},
		{Field: "region", Text: "Oakland"},
	}
	if len(res.Hits) != 1 || !slices.Equal(res.Hits[0].Matched, want) {
		t.Errorf("matched = %+v, want %+v", res.Hits, want)
	}
	// At most five reasons.
	d := Doc{ID: 9, Name: "Many"}
	for i := range 8 {
		d.Services = append(d.Services, Service{ID: int64(90 + i), Title: "Accessibility audit " + strings.Repeat("i", i+1)})
	}
	ix = newIndex(t, []Doc{d})
	if m := search(t, ix, Query{Text: "accessibility"}).Hits[0].Matched; len(m) != maxMatches {
		t.Errorf("%d reasons, want %d: %+v", len(m), maxMatches, m)
	}
}

func TestQueryErrors(t *testing.T) {
	ix := newIndex(t, fixture())
	tests := []struct {
		name string
		q    Query
		msg  string
	}{
		{"unbalanced quote", Query{Text: `"data migration`}, "closing quote"},
		{"too long", Query{Text: strings.Repeat("a", 201)}, "longer than 200 characters"},
		{"too many words", Query{Text: strings.Repeat("web ", 17)}, "more than 16 words"},
		{"limit too large", Query{Limit: 101}, "limit must be between 1 and 100"},
		{"negative limit", Query{Limit: -1}, "limit must be between 1 and 100"},
		{"negative offset", Query{Offset: -1}, "offset must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ix.Search(tt.q)
			var qe *QueryError
			if !errors.As(err, &qe) || !strings.Contains(qe.Msg, tt.msg) {
				t.Errorf("err = %v, want a QueryError saying %q", err, tt.msg)
			}
		})
	}
	// At the limits: fine.
	for _, q := range []Query{
		{Text: strings.Repeat("a", 200)},
		{Text: strings.Repeat("web ", 16)},
		{Text: `"data migration" "open harbor"`},
		{Limit: 100},
	} {
		if _, err := ix.Search(q); err != nil {
			t.Errorf("Search(%.40q): %v", q.Text, err)
		}
	}
}

func TestParseQuery(t *testing.T) {
	tests := []struct {
		text string
		want []qunit
	}{
		{"civicrm migration", []qunit{{words: []string{"civicrm"}}, {words: []string{"migration"}, prefix: true}}},
		{"civicrm migration ", []qunit{{words: []string{"civicrm"}}, {words: []string{"migration"}}}},
		{"Web web", []qunit{{words: []string{"web"}, prefix: true}}},
		{`"Data Migration" of the`, []qunit{{words: []string{"data", "migration"}, phrase: true}, {words: []string{"the"}, prefix: true}}},
		{`“data migration”`, []qunit{{words: []string{"data", "migration"}, phrase: true}}},
		{`"the" "civicrm" ""`, []qunit{{words: []string{"civicrm"}}}},
		{"migración, ", []qunit{{words: []string{"migracion"}}}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := parseQuery(&Query{Text: tt.text})
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tt.text, err)
			continue
		}
		if !slices.EqualFunc(got, tt.want, func(a, b qunit) bool {
			return slices.Equal(a.words, b.words) && a.phrase == b.phrase && a.prefix == b.prefix
		}) {
			t.Errorf("parseQuery(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}
