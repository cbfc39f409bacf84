package search_test

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/directory/search/searchtest"
)

// TestConcurrentSearchAndPut searches from several goroutines while one
// replaces and deletes docs; run with -race.
func TestConcurrentSearchAndPut(t *testing.T) {
	docs := searchtest.Generate(7, 400, 3)
	ix := search.New()
	for _, d := range docs {
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	queries := searchtest.Queries(8, 200)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 3 {
		wg.Go(func() {
			for i := range 300 {
				q := queries[(w*100+i)%len(queries)]
				q.Facets = i%2 == 0
				res, err := ix.Search(q)
				if err != nil {
					errs <- err
					return
				}
				if len(res.Hits) > 20 || res.Total < len(res.Hits) {
					errs <- errors.New("inconsistent results")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 300 {
			d := docs[i%len(docs)]
			if i%3 == 0 {
				ix.Delete(d.ID)
				continue
			}
			d.Name += " renamed"
			if err := ix.Put(d); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each of the first 300 docs was touched once; every third deleted.
	if st := ix.Stats(); st.Docs != 300 {
		t.Errorf("docs after the writes: %+v, want 300", st)
	}
	res, err := ix.Search(search.Query{Text: "renamed "})
	if err != nil || res.Total != 200 {
		t.Errorf("renamed docs: %d, %v; want 200", res.Total, err)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := searchtest.Generate(3, 50, 4), searchtest.Generate(3, 50, 4)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different docs")
	}
	if reflect.DeepEqual(a, searchtest.Generate(4, 50, 4)) {
		t.Fatal("different seeds, same docs")
	}
	svc := map[int64]bool{}
	langs := map[string]bool{}
	for _, d := range a {
		if len(d.Services) != 4 || d.Name == "" || d.Summary == "" || d.Country == "" || len(d.Languages) == 0 {
			t.Fatalf("incomplete doc: %+v", d)
		}
		langs[d.Languages[0]] = true
		for _, s := range d.Services {
			if svc[s.ID] {
				t.Fatalf("service id %d twice", s.ID)
			}
			svc[s.ID] = true
			if !slices.Contains(searchtest.Categories, s.Category) || !slices.Contains(searchtest.Pricing, s.Pricing) {
				t.Fatalf("unknown category or pricing: %+v", s)
			}
		}
	}
	if len(langs) < 4 {
		t.Errorf("languages: %v, want a mix", langs)
	}
	qs := searchtest.Queries(5, 100)
	for _, q := range qs {
		if q.Text == "" || len(q.Regions)+len(q.Skills) != 1 {
			t.Fatalf("query without text or with other than one filter: %+v", q)
		}
	}
	if !reflect.DeepEqual(qs, searchtest.Queries(5, 100)) {
		t.Fatal("same seed, different queries")
	}
}

// TestGeneratedQueriesFindDocs checks that the benchmark measures real work:
// most generated queries find something.
func TestGeneratedQueriesFindDocs(t *testing.T) {
	ix := search.New()
	for _, d := range searchtest.Generate(1, 2000, 5) {
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	found := 0
	qs := searchtest.Queries(2, 200)
	for _, q := range qs {
		res, err := ix.Search(q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) > 0 {
			found++
		}
	}
	if found < len(qs)*3/4 {
		t.Errorf("%d of %d queries found something", found, len(qs))
	}
}

func TestBaseline(t *testing.T) {
	docs := []search.Doc{
		{ID: 1, Name: "Open Harbor", Summary: "WordPress websites", Country: "US",
			Services: []search.Service{{ID: 10, Title: "WordPress sites", Category: "web-development", Tags: []string{"wordpress"}}}},
		{ID: 2, Name: "Libre Code", Summary: "Nextcloud hosting and WordPress", Country: "FR", Skills: []string{"nextcloud"}},
		{ID: 3, Name: "Tejido", Summary: "CiviCRM", Country: "ES"},
	}
	b := search.NewBaseline(docs)
	tests := []struct {
		q    search.Query
		want []int64
	}{
		{search.Query{Text: "wordpress"}, []int64{1, 2}}, // 1 says it more often
		{search.Query{Text: "wordpress nextcloud"}, []int64{2}},
		{search.Query{Text: "wordpress", Countries: []string{"fr"}}, []int64{2}},
		{search.Query{Text: "wordpress", Skills: []string{"WordPress"}}, []int64{1}},
		{search.Query{Text: "drupal"}, []int64{}},
	}
	for _, tt := range tests {
		if got := b.Search(tt.q); !slices.Equal(got, tt.want) {
			t.Errorf("baseline %+v = %v, want %v", tt.q, got, tt.want)
		}
	}
}
