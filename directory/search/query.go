package search

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits of a query, so that one search cannot cost much.
const (
	MaxQueryChars = 200
	MaxQueryWords = 16
	MaxLimit      = 100
	DefaultLimit  = 20
)

const (
	// maxPrefixTerms caps the completions of the word being typed.
	maxPrefixTerms = 50
	// prefixBoost scales a completion's score below the word as typed, so
	// "data" ranks docs saying "data" above docs saying "database".
	prefixBoost = 0.8
)

// quotes turns typographic quotes into plain ones.
var quotes = strings.NewReplacer("“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`)

// qunit is one unit of query text: a word, or a quoted phrase.
type qunit struct {
	words  []string // folded
	phrase bool
	prefix bool // the last word, still being typed: completions count too
}

// parseQuery checks q and splits its text into units.
func parseQuery(q *Query) ([]qunit, error) {
	if q.Limit < 0 || q.Limit > MaxLimit {
		return nil, &QueryError{Msg: fmt.Sprintf("limit must be between 1 and %d", MaxLimit)}
	}
	if q.Offset < 0 {
		return nil, &QueryError{Msg: "offset must not be negative"}
	}
	text := quotes.Replace(q.Text)
	if utf8.RuneCountInString(text) > MaxQueryChars {
		return nil, &QueryError{Msg: fmt.Sprintf("the search is longer than %d characters", MaxQueryChars)}
	}
	if strings.Count(text, `"`)%2 != 0 {
		return nil, &QueryError{Msg: `a quoted phrase is missing its closing quote (")`}
	}
	var units []qunit
	nwords := 0
	parts := strings.Split(text, `"`)
	for i, part := range parts {
		quoted := i%2 == 1
		var phrase []string
		splitWords(part, func(w string, atEnd bool) {
			nwords++
			f := fold(w)
			prefix := !quoted && atEnd && i == len(parts)-1
			if len(f) > maxTokenBytes || (isStopword(f) && !prefix) {
				return
			}
			if quoted {
				phrase = append(phrase, f)
				return
			}
			units = addUnit(units, qunit{words: []string{f}, prefix: prefix})
		})
		if len(phrase) > 0 {
			units = addUnit(units, qunit{words: phrase, phrase: len(phrase) > 1})
		}
	}
	if nwords > MaxQueryWords {
		return nil, &QueryError{Msg: fmt.Sprintf("the search has more than %d words", MaxQueryWords)}
	}
	return units, nil
}

// addUnit appends u unless units has it already: "web web" is "web", and
// so is "web web" still being typed, with completions.
func addUnit(units []qunit, u qunit) []qunit {
	for i, v := range units {
		if v.phrase == u.phrase && slices.Equal(v.words, u.words) {
			units[i].prefix = v.prefix || u.prefix
			return units
		}
	}
	return append(units, u)
}

// alt is one term a query word may match, and how much a match counts.
type alt struct {
	id    uint32
	boost float32
}

// resolved is a unit as terms: one list of alternatives per word.
type resolved struct {
	words  []*qword
	phrase bool
}

// resolve finds the terms a folded query word matches: its stem in every
// supported language and itself unstemmed, since the query's language is
// unknown, and, while it is being typed, completions from the dictionary.
func (ix *Index) resolve(w string, prefix bool) []alt {
	alts := make([]alt, 0, 8)
	add := func(t string, boost float32) {
		id, ok := ix.termIDs[t]
		if !ok || ix.terms[id].df <= 0 {
			return
		}
		for _, a := range alts {
			if a.id == id {
				return
			}
		}
		alts = append(alts, alt{id, boost})
	}
	for _, f := range ix.stems.forms(w) {
		add(f, 1)
	}
	if !prefix || utf8.RuneCountInString(w) < 2 {
		return alts
	}
	// A word cut short inside its suffix ("migrati") is longer than its
	// stem ("migrat"): try it a letter or two shorter.
	r := []rune(w)
	for k := 1; k <= 2 && len(r)-k >= 4; k++ {
		add(string(r[:len(r)-k]), prefixBoost)
	}
	exact := len(alts)
	var more []uint32
	ix.dict.withPrefix(ix.terms, w, func(id uint32) bool {
		if ix.terms[id].df > 0 && !slices.ContainsFunc(alts[:exact], func(a alt) bool { return a.id == id }) {
			more = append(more, id)
		}
		return len(more) < 20*maxPrefixTerms
	})
	if len(more) > maxPrefixTerms {
		// Keep the commonest completions: the likeliest meant.
		slices.SortStableFunc(more, func(a, b uint32) int { return int(ix.terms[b].df - ix.terms[a].df) })
		more = more[:maxPrefixTerms]
	}
	for _, id := range more {
		alts = append(alts, alt{id, prefixBoost})
	}
	return alts
}

// resolveUnits turns units into terms. A word being typed that is a
// stopword and completes to nothing is dropped rather than failing the
// query ("web design for").
func (ix *Index) resolveUnits(units []qunit) []resolved {
	out := make([]resolved, 0, len(units))
	for _, u := range units {
		r := resolved{words: make([]*qword, len(u.words)), phrase: u.phrase}
		for i, w := range u.words {
			r.words[i] = ix.word(w, u.prefix)
		}
		if u.prefix && len(r.words[0].alts) == 0 && isStopword(u.words[0]) {
			continue
		}
		out = append(out, r)
	}
	return out
}
