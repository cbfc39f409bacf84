package search

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxMatches caps the reasons given per hit.
const maxMatches = 5

// explain fills each hit's Matched from the doc's term sequence: a segment
// holding any term of the query is a reason. Only the returned page pays.
func (ix *Index) explain(hits []Hit, rs []resolved) {
	s := explainPool.Get().(*explainScratch)
	defer explainPool.Put(s)
	ids := s.ids[:0]
	for _, r := range rs {
		for _, w := range r.words {
			for _, a := range w.alts {
				ids = append(ids, a.id)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	s.ids = ids
	// A few terms are found fastest by searching for their bytes; the many
	// of a prefix (up to 50) by reading each sequence once.
	enc := s.enc[:0] // each wanted term as it is written in a sequence
	if len(ids) <= seqSearchMax {
		buf := s.seqBuf[:0]
		for _, id := range ids {
			n := len(buf)
			buf = appendSeq(buf, id)
			enc = append(enc, buf[n:len(buf):len(buf)])
		}
		s.seqBuf, s.enc = buf, enc
	}
	// The page's reasons are gathered in the scratch and copied out once,
	// at their size: most hits have one or two, not maxMatches.
	all := grow(s.matches, maxMatches*len(hits))[:0]
	ends := grow(s.ends, len(hits))
	segs := s.segs[:0]
	for i := range hits {
		e := &ix.docs[ix.byID[hits[i].ID]]
		if len(enc) > 0 {
			segs = segmentsWith(segs[:0], e.seq, enc)
		} else {
			segs = segmentsWithIDs(segs[:0], e.seq, ids)
		}
		m := reasons(all[len(all):len(all):len(all)+maxMatches], &e.doc, segs, int(e.tags))
		all = all[:len(all)+len(m)]
		ends[i] = len(all)
	}
	s.matches, s.ends, s.segs = all, ends, segs
	out := slices.Clone(all)
	from := 0
	for i, end := range ends {
		if end > from {
			hits[i].Matched = out[from:end:end] // an append must not reach the next hit's
		}
		from = end
	}
	clear(all) // the scratch must not keep the docs' strings alive
}

// explainScratch is what explain reuses from one search to the next.
type explainScratch struct {
	ids     []uint32
	seqBuf  []byte
	enc     [][]byte
	segs    []int
	matches []Match
	ends    []int
}

var explainPool = sync.Pool{New: func() any { return new(explainScratch) }}

// seqSearchMax is the most terms explain looks for with segmentsWith.
const seqSearchMax = 8

// segmentsWithIDs is segmentsWith for the sorted term ids ids: it reads
// seq once, term by term.
func segmentsWithIDs(dst []int, seq []byte, ids []uint32) []int {
	seg := -1
	for i := 0; i < len(seq); {
		var id uint32
		id, i = readSeq(seq, i)
		switch {
		case id == boundary:
			seg++
		case len(dst) > 0 && dst[len(dst)-1] == seg:
			// this segment is in already
		default:
			if _, ok := slices.BinarySearch(ids, id); ok {
				dst = append(dst, seg)
			}
		}
	}
	return dst
}

// segmentsWith appends to dst the numbers of the segments of seq that hold
// any of the encoded terms, ascending and once each. It searches for each
// term's bytes, much faster than decoding every term: a match counts only
// where a varint starts, that is after a byte below 0x80.
func segmentsWith(dst []int, seq []byte, enc [][]byte) []int {
	for _, pat := range enc {
		for off := 0; ; {
			j := bytes.Index(seq[off:], pat)
			if j < 0 {
				break
			}
			p := off + j
			off = p + 1
			if p > 0 && seq[p-1] >= 0x80 {
				continue
			}
			dst = append(dst, p)
			// One occurrence per segment will do: go on from the next
			// boundary, the only 0 byte (a varint's last byte is never 0).
			k := bytes.IndexByte(seq[off:], 0)
			if k < 0 {
				break
			}
			off += k
		}
	}
	slices.Sort(dst)
	// Positions to segment numbers: count the boundaries before each.
	// seq starts with a boundary, so the first segment is number 0.
	segs := dst[:0]
	seg, from := -1, 0
	for _, p := range dst {
		seg += bytes.Count(seq[from:p], []byte{0})
		from = p
		if len(segs) == 0 || segs[len(segs)-1] != seg {
			segs = append(segs, seg)
		}
	}
	return segs
}

// reasons turns the matching segments into at most maxMatches distinct
// Matches: segments come in the order reasons rank (see eachSegment).
// They are appended to out, which has room for them. tags is the number of
// the services' tags.
func reasons(out []Match, d *Doc, segs []int, tags int) []Match {
	for _, seg := range segs {
		r := segmentAt(d, seg, tags)
		if (r.f == fieldDescription || r.f == fieldCategory) && slices.ContainsFunc(out, func(m Match) bool {
			return m.Field == "service" && m.ServiceID == d.Services[r.i].ID
		}) {
			continue // the service is a reason already
		}
		m := match(d, r)
		if !slices.Contains(out, m) {
			out = append(out, m)
			if len(out) == maxMatches {
				break
			}
		}
	}
	return out
}

// segRef locates a segment of a Doc as eachSegment describes it.
type segRef struct {
	f      field
	i, tag int
}

// segmentAt returns segment number seg of d, counting as eachSegment does
// (a test holds the two together). tags is the number of d's services' tags.
func segmentAt(d *Doc, seg, tags int) segRef {
	if seg == 0 {
		return segRef{f: fieldName}
	}
	seg--
	if seg < len(d.Skills) {
		return segRef{f: fieldSkill, i: seg}
	}
	seg -= len(d.Skills)
	if seg < tags {
		for i := range d.Services {
			n := len(d.Services[i].Tags)
			if seg < n {
				return segRef{f: fieldTag, i: i, tag: seg}
			}
			seg -= n
		}
	}
	seg -= tags
	n := len(d.Services)
	for _, f := range []field{fieldTitle, fieldCategory, fieldDescription} {
		if seg < n {
			return segRef{f: f, i: seg}
		}
		seg -= n
	}
	if seg == 0 {
		return segRef{f: fieldSummary}
	}
	seg--
	if seg < len(d.Languages) {
		return segRef{f: fieldLanguage, i: seg}
	}
	return segRef{f: fieldRegion, i: seg - len(d.Languages)}
}

// match describes segment r of d for a person.
func match(d *Doc, r segRef) Match {
	switch r.f {
	case fieldName:
		return Match{Field: "name", Text: d.Name}
	case fieldSummary:
		return Match{Field: "summary", Text: excerpt(d.Summary, 120)}
	case fieldSkill:
		return Match{Field: "skill", Text: d.Skills[r.i]}
	case fieldTag:
		s := &d.Services[r.i]
		return Match{Field: "tag", Text: s.Tags[r.tag], ServiceID: s.ID}
	case fieldTitle, fieldDescription, fieldCategory:
		s := &d.Services[r.i]
		return Match{Field: "service", Text: s.Title, ServiceID: s.ID}
	case fieldLanguage:
		return Match{Field: "language", Text: d.Languages[r.i]}
	}
	text := d.City
	switch {
	case r.i == 0:
		text = d.Region
	case r.i <= len(d.RegionsServed):
		text = d.RegionsServed[r.i-1]
	}
	return Match{Field: "region", Text: text}
}

// excerpt cuts s to about n characters at a word boundary.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if cut == n {
			s = s[:i]
			break
		}
		cut++
	}
	if i := strings.LastIndexByte(s, ' '); i > n/2 {
		s = s[:i]
	}
	return s + "…"
}
