package search

import (
	"slices"
	"testing"
)

func TestFold(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"MiXeD", "mixed"},
		{"Migración", "migracion"},
		{"ÜBER", "uber"},
		{"Straße", "strasse"},
		{"e\u0301cole", "ecole"}, // decomposed accent
		{"Œuvre", "oeuvre"},
		{"São Paulo", "sao paulo"},
		{"Łódź", "lodz"},
	}
	for _, tt := range tests {
		if got := fold(tt.in); got != tt.want {
			t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		end  bool // whether the last word ends the text
	}{
		{"node.js, C++ & l'association", []string{"node", "js", "C", "l", "association"}, true},
		{"web-development ", []string{"web", "development"}, false},
		{"e\u0301cole maternelle", []string{"e\u0301cole", "maternelle"}, true},
		{"  ", nil, false},
	}
	for _, tt := range tests {
		var got []string
		end := false
		splitWords(tt.in, func(w string, atEnd bool) {
			got = append(got, w)
			end = atEnd
		})
		if !slices.Equal(got, tt.want) || end != tt.end {
			t.Errorf("splitWords(%q) = %q end %v, want %q end %v", tt.in, got, end, tt.want, tt.end)
		}
	}
}

func TestAppendTerms(t *testing.T) {
	tests := []struct {
		text string
		lang string
		want []string
	}{
		{"The accessible websites, and IT support", "en", []string{"access", "websit", "it", "support"}},
		{"Migración de datos a CiviCRM", "es", []string{"migracion", "dat", "civicrm"}},
		{"Migracion de datos", "es", []string{"migracion", "dat"}}, // typed without accents: same terms
		{"Hébergement des données", "fr", []string{"heberg", "donne"}},
		{"Datenmigration für Vereine", "de", []string{"datenmigration", "verein"}},
		{"Migração de dados", "pt-BR", []string{"migraca", "dad"}},
		{"Migrazione dei dati", "it", []string{"migrazion", "dat"}},
		{"Windows 11 and x86", "en", []string{"window", "11", "x86"}}, // digits: not stemmed
		{"der die das und the", "de", nil},                            // stopwords only
	}
	for _, tt := range tests {
		got := appendTerms(nil, tt.text, docLang([]string{tt.lang}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("appendTerms(%q, %s) = %q, want %q", tt.text, tt.lang, got, tt.want)
		}
	}
}

func TestDocLang(t *testing.T) {
	tests := []struct {
		langs []string
		want  string
	}{
		{nil, "en"},
		{[]string{"pt-BR"}, "pt"},
		{[]string{"EN-gb"}, "en"},
		{[]string{"ca", "es"}, "es"}, // Catalan has no stemmer: the next language's
		{[]string{"sw"}, "en"},
	}
	for _, tt := range tests {
		if got := stemLangs[docLang(tt.langs)].code; got != tt.want {
			t.Errorf("docLang(%q) = %s, want %s", tt.langs, got, tt.want)
		}
	}
}

func TestStopwords(t *testing.T) {
	for _, w := range []string{"the", "and", "de", "los", "des", "und", "der", "dos", "della"} {
		if !isStopword(w) {
			t.Errorf("%q is not a stopword", w)
		}
	}
	for _, w := range []string{"it", "data", "web", "design", "open"} {
		if isStopword(w) {
			t.Errorf("%q is a stopword", w)
		}
	}
}

func TestStemCacheForms(t *testing.T) {
	var c stemCache
	got := c.forms("migration")
	// Unstemmed, English and French stems; the other stemmers leave it alone.
	if want := []string{"migration", "migrat"}; !slices.Equal(got, want) {
		t.Errorf("forms(migration) = %q, want %q", got, want)
	}
	if again := c.forms("migration"); &again[0] != &got[0] {
		t.Error("second lookup was not cached")
	}
}

func TestSegmentAtFollowsEachSegment(t *testing.T) {
	d := fixture()[1] // two services, tags, skills, regions
	d.Languages = []string{"en", "es"}
	d.RegionsServed = []string{"California", "Oregon"}
	tags := 0
	for _, s := range d.Services {
		tags += len(s.Tags)
	}
	seg := 0
	eachSegment(&d, func(f field, _ string, i, tag int) {
		got := segmentAt(&d, seg, tags)
		want := segRef{f: f, i: i, tag: tag}
		if f == fieldName || f == fieldSummary {
			want.i = 0
		}
		if got != want {
			t.Errorf("segment %d: segmentAt = %+v, eachSegment = %+v", seg, got, want)
		}
		seg++
	})
}
