package search

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

func TestPutReplacesAndDeleteRemoves(t *testing.T) {
	ix := newIndex(t, fixture())
	before := ix.Stats()
	if before.Docs != 5 || before.Terms == 0 || before.Bytes == 0 {
		t.Fatalf("stats = %+v", before)
	}

	d := fixture()[1]
	d.Name = "Lighthouse Cooperative"
	d.Skills = []string{"Mastodon"}
	d.Services = d.Services[:1]
	if err := ix.Put(d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int64
	}{
		{"harbor ", []int64{}},        // the old name
		{"lighthouse ", []int64{2}},   // the new one
		{"mastodon ", []int64{2}},     // a new skill
		{"civicrm ", []int64{1}},      // the dropped service's tag
		{"wordpress ", []int64{2, 5}}, // unchanged service
	}
	for _, tt := range tests {
		if got := sorted(ids(search(t, ix, Query{Text: tt.text}))); !slices.Equal(got, tt.want) {
			t.Errorf("after replace, %q found %v, want %v", tt.text, got, tt.want)
		}
	}
	if got := sorted(ids(search(t, ix, Query{Skills: []string{"civicrm"}}))); !slices.Equal(got, []int64{1}) {
		t.Errorf("skill filter after replace: %v, want [1]", got)
	}
	if st := ix.Stats(); st.Docs != 5 {
		t.Errorf("docs after replace = %d, want 5", st.Docs)
	}

	ix.Delete(3)
	ix.Delete(3) // again: nothing
	ix.Delete(99)
	if got := ids(search(t, ix, Query{Text: "nextcloud"})); len(got) != 0 {
		t.Errorf("deleted doc found: %v", got)
	}
	res := search(t, ix, Query{Facets: true})
	if res.Total != 4 || slices.ContainsFunc(res.Facets.Countries, func(f FacetCount) bool { return f.Value == "FR" }) {
		t.Errorf("after delete: total %d, countries %v", res.Total, res.Facets.Countries)
	}
	if st := ix.Stats(); st.Docs != 4 || st.Terms >= before.Terms {
		t.Errorf("stats after delete = %+v, before %+v", st, before)
	}
	if got := ids(search(t, ix, Query{Countries: []string{"FR"}})); len(got) != 0 {
		t.Errorf("country filter finds the deleted doc: %v", got)
	}
	// Searches trust the filters to hold live docs only.
	for k, values := range ix.filters.values {
		for v, b := range values {
			if b.IsEmpty() || !roaring.AndNot(b, ix.live).IsEmpty() {
				t.Errorf("filter %d %q holds %v, live docs are %v", k, v, b.ToArray(), ix.live.ToArray())
			}
		}
	}
	for _, b := range []*roaring.Bitmap{ix.filters.remote, ix.filters.accepting} {
		if !roaring.AndNot(b, ix.live).IsEmpty() {
			t.Errorf("flag filter holds %v, live docs are %v", b.ToArray(), ix.live.ToArray())
		}
	}
}

// TestScoresAfterUpdates checks that BM25's statistics (doc count, document
// frequencies, average length) follow replacements and deletions: scores
// equal those of an index built from the surviving docs alone.
func TestScoresAfterUpdates(t *testing.T) {
	docs := fixture()
	for i := range 5 { // so that two dead ordinals do not compact yet
		docs = append(docs, Doc{ID: int64(100 + i), Name: fmt.Sprintf("Filler %d", i), Summary: "Websites and hosting."})
	}
	updated := newIndex(t, docs)
	// Searched before the changes, so that the words resolved then are in
	// the index's word cache: the changes must clear it.
	compareScores(t, updated, newIndex(t, docs))
	if updated.words.size() == 0 {
		t.Fatal("the searches left nothing in the word cache")
	}
	changed := docs[1]
	changed.Summary = "A worker-owned cooperative building websites and CiviCRM integrations."
	if err := updated.Put(changed); err != nil {
		t.Fatal(err)
	}
	updated.Delete(3)
	if updated.compactions != 0 || updated.dead != 2 {
		t.Fatalf("%d compactions, %d dead: the test wants dead ordinals in place", updated.compactions, updated.dead)
	}
	survivors := slices.Concat([]Doc{docs[0], changed}, docs[3:])
	compareScores(t, updated, newIndex(t, survivors))

	// And after compaction.
	compareScores(t, updated, newIndex(t, survivors)) // fills the cache again
	updated.Delete(100)
	if updated.compactions != 1 {
		t.Fatalf("%d compactions, want 1", updated.compactions)
	}
	survivors = slices.DeleteFunc(survivors, func(d Doc) bool { return d.ID == 100 })
	compareScores(t, updated, newIndex(t, survivors))
}

func compareScores(t *testing.T, got, want *Index) {
	t.Helper()
	for _, text := range []string{"civicrm", "migration data", "websites", "cooperativa", "hosting"} {
		a, b := search(t, got, Query{Text: text}), search(t, want, Query{Text: text})
		if len(a.Hits) != len(b.Hits) {
			t.Fatalf("%q: %v vs %v", text, ids(a), ids(b))
		}
		for i := range a.Hits {
			if a.Hits[i].ID != b.Hits[i].ID || math.Abs(a.Hits[i].Score-b.Hits[i].Score) > 1e-4 {
				t.Errorf("%q hit %d: updated %+v, fresh %+v", text, i, a.Hits[i], b.Hits[i])
			}
		}
	}
}

func TestCompaction(t *testing.T) {
	var docs []Doc
	for i := range 8 {
		docs = append(docs, Doc{ID: int64(i + 1), Name: fmt.Sprintf("Coop %d", i+1),
			Summary: fmt.Sprintf("word%d shared", i), Country: "FR",
			Services: []Service{{ID: int64(100 + i), Title: "Hosting", Category: "hosting"}}})
	}
	ix := newIndex(t, docs)
	terms := ix.Stats().Terms
	if got := sorted(ids(search(t, ix, Query{Text: "word"}))); len(got) != 8 { // into the word cache
		t.Fatalf("before compaction, word found %v", got)
	}
	ix.Delete(1)
	ix.Delete(2)
	if ix.compactions != 0 {
		t.Fatalf("compacted at 2 dead of 8")
	}
	ix.Delete(3) // 3 dead of 8: more than a quarter
	if ix.compactions != 1 || len(ix.docs) != 5 || ix.dead != 0 {
		t.Fatalf("after 3 deletes: %d compactions, %d ordinals, %d dead", ix.compactions, len(ix.docs), ix.dead)
	}
	// Gone: word0-2 and the names' numbers 1-3.
	if st := ix.Stats(); st.Docs != 5 || st.Terms != terms-6 {
		t.Errorf("stats = %+v, want 5 docs and %d terms", st, terms-6)
	}
	if len(ix.termIDs) != len(ix.terms) || len(ix.dict.sorted)+len(ix.dict.tail) != len(ix.terms) {
		t.Errorf("dictionary out of step: %d ids, %d terms, %d sorted", len(ix.termIDs), len(ix.terms), len(ix.dict.sorted))
	}
	tests := []struct {
		q    Query
		want []int64
	}{
		{Query{Text: "shared"}, []int64{4, 5, 6, 7, 8}},
		{Query{Text: "word1 "}, []int64{}},
		{Query{Text: "word5 "}, []int64{6}},
		{Query{Text: "word"}, []int64{4, 5, 6, 7, 8}}, // prefix over the rebuilt dictionary
		{Query{Countries: []string{"FR"}, Categories: []string{"hosting"}}, []int64{4, 5, 6, 7, 8}},
		{Query{Text: `"coop 5"`}, []int64{5}},
	}
	for _, tt := range tests {
		if got := sorted(ids(search(t, ix, tt.q))); !slices.Equal(got, tt.want) {
			t.Errorf("after compaction, %+v found %v, want %v", tt.q, got, tt.want)
		}
	}
	// Replacing also leaves dead ordinals behind.
	for range 3 {
		if err := ix.Put(docs[4]); err != nil {
			t.Fatal(err)
		}
	}
	if ix.compactions != 2 || ix.Stats().Docs != 5 {
		t.Errorf("after replacements: %d compactions, %+v", ix.compactions, ix.Stats())
	}
	if got := ids(search(t, ix, Query{Text: "word4 "})); !slices.Equal(got, []int64{5}) {
		t.Errorf("replaced doc: %v", got)
	}
}

func TestLimit(t *testing.T) {
	ix := NewWithLimit(2)
	docs := fixture()
	for _, d := range docs[:2] {
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Put(docs[2]); !errors.Is(err, ErrFull) {
		t.Fatalf("third doc: err = %v, want ErrFull", err)
	}
	if got := ids(search(t, ix, Query{Text: "nextcloud"})); len(got) != 0 || ix.Len() != 2 {
		t.Errorf("refused doc is searchable: %v, %d docs", got, ix.Len())
	}
	if err := ix.Put(docs[0]); err != nil {
		t.Errorf("replacing at the limit: %v", err)
	}
	ix.Delete(1)
	if err := ix.Put(docs[2]); err != nil {
		t.Errorf("after a delete: %v", err)
	}
	if New().maxDocs != DefaultMaxDocs {
		t.Errorf("default limit = %d", New().maxDocs)
	}
}

func TestPutCopiesDoc(t *testing.T) {
	d := fixture()[0]
	ix := newIndex(t, []Doc{d})
	d.Skills[0] = "Changed"
	d.Services[0].Tags[0] = "changed"
	res := search(t, ix, Query{Text: "civicrm", Skills: []string{"civicrm"}})
	if len(res.Hits) != 1 || res.Hits[0].Matched[0].Text != "CiviCRM" {
		t.Errorf("the caller's later change reached the index: %+v", res.Hits)
	}
}

func TestPutOwnedKeepsSlices(t *testing.T) {
	ix := New()
	d := fixture()[0]
	d.Services = slices.Clone(d.Services)
	title := d.Services[0].Title
	if err := ix.PutOwned(d); err != nil {
		t.Fatal(err)
	}
	if d.Services[0].Description != "" {
		t.Errorf("description kept: %q", d.Services[0].Description)
	}
	e := ix.docs[ix.byID[d.ID]]
	if &e.doc.Services[0] != &d.Services[0] {
		t.Error("the index copied the services it was given")
	}
	res := search(t, ix, Query{Text: title})
	if len(res.Hits) != 1 || res.Hits[0].ID != d.ID {
		t.Fatalf("search %q: %+v", title, res.Hits)
	}
}
