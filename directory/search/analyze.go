package search

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
	"github.com/blevesearch/snowballstem/french"
	"github.com/blevesearch/snowballstem/german"
	"github.com/blevesearch/snowballstem/italian"
	"github.com/blevesearch/snowballstem/portuguese"
	"github.com/blevesearch/snowballstem/spanish"
	"golang.org/x/text/unicode/norm"
)

// maxTokenBytes drops longer tokens: they are noise (hashes, URLs run
// together) and would only bloat the dictionary.
const maxTokenBytes = 40

// stemLang is one language the index can stem.
type stemLang struct {
	code string
	stem func(*snowballstem.Env) bool
}

// numStemLangs is len(stemLangs).
const numStemLangs = 6

// stemLangs are the supported stemmers; index 0, English, is the default.
var stemLangs = [numStemLangs]stemLang{
	{"en", english.Stem},
	{"es", spanish.Stem},
	{"fr", french.Stem},
	{"de", german.Stem},
	{"pt", portuguese.Stem},
	{"it", italian.Stem},
}

// docLang picks the stemmer of a doc: its first supported language, else English.
func docLang(languages []string) int {
	for _, tag := range languages {
		p := primarySubtag(tag)
		for i, l := range stemLangs {
			if l.code == p {
				return i
			}
		}
	}
	return 0
}

// primarySubtag returns the language part of a BCP 47 tag, lower case:
// "pt-BR" gives "pt".
func primarySubtag(tag string) string {
	tag = strings.TrimSpace(tag)
	if i := strings.IndexAny(tag, "-_"); i >= 0 {
		tag = tag[:i]
	}
	return strings.ToLower(tag)
}

// stem returns the stem of a folded word in language l. Words with digits are
// left alone: stemmers would cut "100s" or "x86" into nonsense.
func stem(l int, w string) string {
	if len(w) < 3 || strings.ContainsAny(w, "0123456789") {
		return w
	}
	env := snowballstem.NewEnv(w)
	stemLangs[l].stem(env)
	return env.Current()
}

// fold lower-cases s and removes accents: "Migración" gives "migracion".
// ASCII input, most of it, takes a fast path without normalizing.
func fold(s string) string {
	ascii, lower := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	if ascii {
		if lower {
			return s
		}
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		switch r {
		case 'ß':
			b.WriteString("ss")
		case 'æ', 'Æ':
			b.WriteString("ae")
		case 'œ', 'Œ':
			b.WriteString("oe")
		case 'ø', 'Ø':
			b.WriteByte('o')
		case 'ł', 'Ł':
			b.WriteByte('l')
		case 'đ', 'Đ':
			b.WriteByte('d')
		case 'ı':
			b.WriteByte('i')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// isWordRune reports whether r belongs inside a token. Combining marks do, so
// that decomposed input ("e" + U+0301) stays one word until fold removes them.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// splitWords calls fn with each word of text as written, in order, and with
// whether the text ended right after it (no separator followed).
func splitWords(text string, fn func(w string, atEnd bool)) {
	start := -1
	for i, r := range text {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			fn(text[start:i], false)
			start = -1
		}
	}
	if start >= 0 {
		fn(text[start:], true)
	}
}

// appendTerms appends the index terms of text, stemmed for language l (or
// not when l < 0), to dst. Stopwords and overlong tokens are dropped.
func appendTerms(dst []string, text string, l int) []string {
	splitWords(text, func(w string, _ bool) {
		if t := term1(w, l); t != "" {
			dst = append(dst, t)
		}
	})
	return dst
}

// term1 returns the index term of a word as written, or "" for none.
func term1(w string, l int) string {
	f := fold(w)
	if len(f) == 0 || len(f) > maxTokenBytes || isStopword(f) {
		return ""
	}
	if l >= 0 {
		f = stem(l, f)
	}
	return f
}

// termCache remembers the term of each word as written, per language: a
// directory's vocabulary is small and repeats, and folding and stemming are
// most of the cost of indexing a doc.
type termCache struct {
	mu    sync.Mutex
	m     [numStemLangs + 1]map[string]string // the last: unstemmed
	n     int                                 // entries in all maps
	bytes int64                               // their keys' and values' bytes
}

// termCacheMax bounds the entries of all languages; the cache starts over
// when full.
const termCacheMax = 100_000

// appendTerms is appendTerms through the cache. The caller holds c.mu.
func (c *termCache) appendTerms(dst []string, text string, l int) []string {
	slot := numStemLangs // unstemmed
	if l >= 0 {
		slot = l
	}
	splitWords(text, func(w string, _ bool) {
		t, ok := c.m[slot][w]
		if !ok {
			t = term1(w, l)
			if c.n >= termCacheMax {
				c.m, c.n, c.bytes = [numStemLangs + 1]map[string]string{}, 0, 0
			}
			if c.m[slot] == nil {
				c.m[slot] = make(map[string]string)
			}
			c.m[slot][strings.Clone(w)] = t // w points into the doc's text: keep none of it
			c.n++
			c.bytes += int64(len(w) + len(t))
		}
		if t != "" {
			dst = append(dst, t)
		}
	})
	return dst
}

// size estimates the bytes the cache holds.
func (c *termCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes + int64(c.n)*(2*16+16)
}

// stopwords are the few function words of the supported languages, folded.
// One set serves every language: a query's language is unknown, and a word
// dropped from queries must be dropped from docs too. "it" is kept on
// purpose: "IT support" is a thing coops offer.
var stopwords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, list := range []string{
		// English
		"a an and are as at be but by for from has have in into is of on or our that the their this to was we were will with you your",
		// Spanish
		"al como con de del el en es la las lo los mas para por que se son su sus un una unas unos y",
		// French
		"au aux avec d dans des du est et l le les nos notre nous ou par pour qui sont sur une vous",
		// German
		"das dem den der des die ein eine einem einen fur ihr im ist mit oder sind und unser von wir zu auf",
		// Portuguese
		"da das do dos e na nas no nos o os sua seu um uma",
		// Italian
		"di della dei gli i il per si",
	} {
		for _, w := range strings.Fields(list) {
			m[w] = struct{}{}
		}
	}
	return m
}()

func isStopword(folded string) bool {
	_, ok := stopwords[folded]
	return ok
}

// languageNames are the words a coop's language is also indexed under, in
// English and in the language itself, folded: "es" is "spanish" and
// "espanol", so "civicrm spanish" finds Spanish-speaking coops.
var languageNames = map[string]string{
	"en": "english",
	"es": "spanish espanol castellano",
	"fr": "french francais",
	"de": "german deutsch",
	"pt": "portuguese portugues",
	"it": "italian italiano",
	"nl": "dutch nederlands",
	"ca": "catalan catala",
	"eu": "basque euskara",
	"gl": "galician galego",
	"ar": "arabic",
	"zh": "chinese",
	"ja": "japanese",
	"ko": "korean",
	"ru": "russian",
	"uk": "ukrainian",
	"pl": "polish polski",
	"sv": "swedish svenska",
	"da": "danish dansk",
	"nb": "norwegian norsk",
	"no": "norwegian norsk",
	"fi": "finnish suomi",
	"el": "greek",
	"tr": "turkish turkce",
	"ro": "romanian romana",
	"hu": "hungarian magyar",
	"cs": "czech cestina",
	"hi": "hindi",
	"sw": "swahili kiswahili",
	"qu": "quechua",
	"gn": "guarani",
	"ht": "haitian kreyol",
	"tl": "tagalog",
	"vi": "vietnamese",
}

// languageText is the text a language tag is indexed under.
func languageText(tag string) string {
	return languageNames[primarySubtag(tag)]
}

// stemCache remembers the forms a query word is looked up under: the word
// and its stem in each supported language. Stemming a word six times costs
// more than the rest of a typical search's lookups.
type stemCache struct {
	mu sync.Mutex
	m  map[string][]string
}

// stemCacheMax bounds the cache; it starts over when full.
const stemCacheMax = 10_000

// size estimates the bytes the cache holds.
func (c *stemCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b int64
	for w, forms := range c.m {
		b += int64(len(w)) + 16 + 24 + 16 + int64(cap(forms))*16
		for _, f := range forms[1:] {
			b += int64(len(f))
		}
	}
	return b
}

// forms returns w and its distinct stems. The caller must not change them.
func (c *stemCache) forms(w string) []string {
	c.mu.Lock()
	f, ok := c.m[w]
	c.mu.Unlock()
	if ok {
		return f
	}
	f = append(f, w)
	for l := range stemLangs {
		if s := stem(l, w); !slices.Contains(f, s) {
			f = append(f, s)
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= stemCacheMax {
		c.m = make(map[string][]string)
	}
	c.m[w] = f
	c.mu.Unlock()
	return f
}
