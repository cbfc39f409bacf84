package directory

import (
	"cmp"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/coopnet/coopnet/directory/search"
)

// SuggestRequest is what a work request asks for, as peer suggestions read
// it: the referrals package's Details, without importing it.
type SuggestRequest struct {
	Categories []string // service categories (values of Categories)
	Skills     []string // skills or tags, as the client typed them
	Country    string   // ISO 3166-1 alpha-2
	Region     string
	Language   string // BCP 47 tag
	// Text is the request's description; its words rank coops whose
	// profile and services mention them.
	Text string
	// LocalActor returns the ActivityPub actor id of a coop hosted on this
	// node, whose Listing has none (federation's URLs.Actor). Nil leaves
	// the node's own coops out.
	LocalActor func(slug string) string
}

// Suggestion is a coop a request could be referred to, and why.
type Suggestion struct {
	Listing
	// ActorID is the coop's actor id, to refer the request to.
	ActorID string
	Score   float64
	// Reasons say in words what the coop has that the request asks for,
	// strongest first ("offers Data and CRM", "speaks Spanish").
	Reasons []string
}

// Reason is the reasons in one line.
func (s Suggestion) Reason() string { return strings.Join(s.Reasons, "; ") }

// Weights of what a coop has in common with a request. A service category
// is what a client picks first and is the surest sign; skills are specific
// but typed freely; place and language decide whether the work can happen
// at all, but alone they do not make a coop suited.
const (
	weightCategory = 4
	weightSkill    = 3
	weightText     = 2 // at most, for the best text match
	weightCountry  = 2
	weightRegion   = 2
	weightLanguage = 2
	weightRemote   = 0.5
	weightOpen     = 1 // open capacity over limited
	// suggestTextWords caps the words of the description searched: the
	// index takes at most search.MaxQueryWords.
	suggestTextWords = 12
)

// SuggestPeers ranks the listed coops that could take a request: those
// sharing a service category, a skill or tag, or words of the description
// with it, then by whether they work in its place and language (which
// alone suggest a coop only for a request naming no category or skill),
// then by capacity (open before limited). Coops not taking work
// (capacity closed), unreachable ones (stale), those without an actor id and
// those in exclude (the request's chain and the peers already offered it)
// are left out. At most limit suggestions are returned, best first.
func (d *Directory) SuggestPeers(req SuggestRequest, exclude []string, limit int) []Suggestion {
	if limit <= 0 {
		return nil
	}
	text := d.textMatches(req.Text)
	want := newWanted(req)
	var out []Suggestion
	for _, l := range d.Listings() {
		actor := l.ActorID
		if l.Local() {
			if req.LocalActor == nil {
				continue
			}
			actor = req.LocalActor(l.Slug)
		}
		if actor == "" || l.Capacity == CapacityClosed || l.Stale || slices.Contains(exclude, actor) {
			continue
		}
		s, ok := want.score(l, text[l.ID])
		if !ok {
			continue
		}
		s.ActorID = actor
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(foldName(a.Name), foldName(b.Name)))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// textHit is how well a coop matched the description's words: its score
// relative to the best hit (0 to 1), and what matched.
type textHit struct {
	rel     float64
	matched []string
}

// textMatches searches the index for the description's words.
func (d *Directory) textMatches(text string) map[int64]textHit {
	q := searchWords(text)
	if q == "" {
		return nil
	}
	res, err := d.Search(search.Query{Text: q, Limit: search.MaxLimit})
	if err != nil || len(res.Hits) == 0 || res.Hits[0].Score <= 0 {
		// A description is free text: should it not make a query, the
		// other criteria still rank.
		return nil
	}
	top := res.Hits[0].Score
	out := make(map[int64]textHit, len(res.Hits))
	for _, h := range res.Hits {
		th := textHit{rel: h.Score / top}
		for _, m := range h.Matched {
			if (m.Field == "service" || m.Field == "tag" || m.Field == "skill") && !slices.Contains(th.matched, m.Text) {
				th.matched = append(th.matched, m.Text)
			}
		}
		out[h.ID] = th
	}
	return out
}

// searchWords picks the first distinct words of a description that say
// something (longer than three letters), as a query the index accepts.
func searchWords(text string) string {
	var words []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = strings.ToLower(w)
		if len([]rune(w)) <= 3 || slices.Contains(words, w) {
			continue
		}
		words = append(words, w)
		if len(words) == suggestTextWords {
			break
		}
	}
	q := strings.Join(words, " ")
	if len([]rune(q)) > search.MaxQueryChars {
		q = string([]rune(q)[:search.MaxQueryChars])
	}
	return q
}

// wanted is a SuggestRequest folded for comparing.
type wanted struct {
	categories []string
	skills     map[string]string // folded -> as typed
	country    string
	region     string
	language   string // primary subtag
	langName   string
}

func newWanted(req SuggestRequest) wanted {
	w := wanted{
		categories: req.Categories, skills: map[string]string{},
		country: strings.ToUpper(strings.TrimSpace(req.Country)), region: foldWords(req.Region),
	}
	for _, s := range req.Skills {
		if f := foldWords(s); f != "" {
			w.skills[f] = strings.TrimSpace(s)
		}
	}
	if tag, err := language.Parse(strings.TrimSpace(req.Language)); err == nil && req.Language != "" {
		base, _ := tag.Base()
		w.language = base.String()
		w.langName = display.English.Languages().Name(base)
	}
	return w
}

// score rates listing l for the request; ok is false when it has nothing
// in common with it that makes it suited.
func (w wanted) score(l Listing, text textHit) (Suggestion, bool) {
	s := Suggestion{Listing: l}
	add := func(weight float64, reason string) {
		s.Score += weight
		if reason != "" {
			s.Reasons = append(s.Reasons, reason)
		}
	}
	if cats := w.matchCategories(l); len(cats) > 0 {
		add(weightCategory*float64(len(cats)), "offers "+andList(cats))
	}
	if skills := w.matchSkills(l); len(skills) > 0 {
		add(weightSkill*float64(len(skills)), "knows "+andList(skills))
	}
	if text.rel > 0 {
		reason := "its profile matches words of the request"
		if len(text.matched) > 0 {
			reason = "mentions " + andList(quoteAll(text.matched[:min(len(text.matched), 2)]))
		}
		add(weightText*text.rel, reason)
	}
	// Place and language decide whether the work can happen, not whether
	// the coop can do it: they count alone only for a request that names
	// no category or skill, and working remotely never does.
	substance := s.Score
	w.scorePlace(l, add)
	if w.language != "" && slices.ContainsFunc(l.Languages, func(t string) bool { return baseLanguage(t) == w.language }) {
		add(weightLanguage, "speaks "+w.langName)
	}
	if substance == 0 && (len(w.categories) > 0 || len(w.skills) > 0 || s.Score <= weightRemote) {
		return s, false
	}
	if l.Capacity == CapacityOpen {
		add(weightOpen, "")
	} else if l.Capacity == CapacityLimited {
		s.Reasons = append(s.Reasons, "limited capacity")
	}
	return s, true
}

// scorePlace rates where the coop works: its country, its region or the
// regions it serves, or remote work when it is elsewhere.
func (w wanted) scorePlace(l Listing, add func(float64, string)) {
	sameCountry := w.country != "" && l.Country == w.country
	if sameCountry {
		add(weightCountry, "based in "+CountryName(w.country))
	}
	if w.region != "" {
		for _, r := range append([]string{l.Region, l.City}, l.RegionsServed...) {
			if r != "" && foldWords(r) == w.region {
				add(weightRegion, "serves "+strings.TrimSpace(r))
				return
			}
		}
	}
	if !sameCountry && w.country != "" && l.RemoteFriendly {
		add(weightRemote, "works remotely")
	}
}

func (w wanted) matchCategories(l Listing) []string {
	var out []string
	for _, c := range w.categories {
		if slices.ContainsFunc(l.Services, func(s ListingService) bool { return s.Category == c }) {
			out = append(out, Label(Categories, c))
		}
	}
	return out
}

// matchSkills returns the request's skills the coop lists as a skill or a
// service tag, as the client typed them, in the request's order.
func (w wanted) matchSkills(l Listing) []string {
	if len(w.skills) == 0 {
		return nil
	}
	has := map[string]bool{}
	for _, s := range l.Skills {
		has[foldWords(s)] = true
	}
	for _, svc := range l.Services {
		for _, t := range svc.Tags {
			has[foldWords(t)] = true
		}
	}
	var out []string
	for f, typed := range w.skills {
		if has[f] {
			out = append(out, typed)
		}
	}
	slices.Sort(out)
	return out
}

// foldWords compares free text: case-folded, spaces collapsed.
func foldWords(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

func baseLanguage(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	b, _ := t.Base()
	return b.String()
}

// andList joins words as a sentence does: "a", "a and b", "a, b and c".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

func quoteAll(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "“" + s + "”"
	}
	return out
}
