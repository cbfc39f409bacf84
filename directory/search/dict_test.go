package search

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestDictionaryPrefix puts enough words to merge the dictionary's tail
// into its sorted part several times, and finds each by prefix.
func TestDictionaryPrefix(t *testing.T) {
	ix := New()
	var words []string
	for i := range 1300 {
		words = append(words, fmt.Sprintf("zq%04d", (i*7919)%10000)) // not in sorted order
	}
	for i := 0; i < len(words); i += 100 {
		d := Doc{ID: int64(i), Name: "Coop", Summary: strings.Join(words[i:min(i+100, len(words))], " ")}
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	if len(ix.dict.tail) >= dictTailMax || len(ix.dict.sorted) == 0 {
		t.Fatalf("dictionary: %d sorted, %d in the tail", len(ix.dict.sorted), len(ix.dict.tail))
	}
	if !slices.IsSortedFunc(ix.dict.sorted, func(a, b uint32) int { return strings.Compare(ix.terms[a].text, ix.terms[b].text) }) {
		t.Fatal("sorted part is not sorted")
	}
	for _, prefix := range []string{"zq0", "zq12", "zq9", "zq00", words[0], words[len(words)-1]} {
		var got []string
		ix.dict.withPrefix(ix.terms, prefix, func(id uint32) bool {
			got = append(got, ix.terms[id].text)
			return true
		})
		var want []string
		for _, w := range words {
			if strings.HasPrefix(w, prefix) {
				want = append(want, w)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("prefix %q: %d terms, want %d", prefix, len(got), len(want))
		}
	}
}

func TestResolvePrefix(t *testing.T) {
	ix := New()
	var words []string
	for i := range 80 {
		words = append(words, fmt.Sprintf("data%c%c", 'a'+i/26, 'a'+i%26))
	}
	docs := []Doc{
		{ID: 1, Name: "Data", Summary: "data"},
		{ID: 2, Name: "Words", Summary: strings.Join(words, " ")},
		{ID: 3, Name: "More", Summary: "datacb datacc"}, // commoner completions, late in order
	}
	for _, d := range docs {
		if err := ix.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	alts := ix.resolve("data", true)
	if len(alts) != 1+maxPrefixTerms {
		t.Errorf("%d alternatives, want %d", len(alts), 1+maxPrefixTerms)
	}
	if exact := ix.termIDs["data"]; alts[0].id != exact || alts[0].boost != 1 {
		t.Errorf("first alternative %+v, want the word as typed (%d) with full weight", alts[0], exact)
	}
	var completions []string
	for _, a := range alts[1:] {
		if a.boost != prefixBoost {
			t.Errorf("completion %q weighs %v", ix.terms[a.id].text, a.boost)
		}
		completions = append(completions, ix.terms[a.id].text)
	}
	for _, w := range []string{"datacb", "datacc"} {
		if !slices.Contains(completions, w) {
			t.Errorf("completions lack %q, a common one: %v", w, completions)
		}
	}
	if alts := ix.resolve("data", false); len(alts) != 1 {
		t.Errorf("a finished word has %d alternatives, want 1", len(alts))
	}
	if alts := ix.resolve("d", true); len(alts) != 0 {
		t.Errorf("one letter completes to %d terms, want none", len(alts))
	}
}
