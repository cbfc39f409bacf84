package search

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The two ways of finding the segments that hold some terms agree, on
// the fixture's docs and term sets of every size, some in the doc, some not.
func TestSegmentsWithIDsAgrees(t *testing.T) {
	ix := newIndex(t, fixture())
	rng := rand.New(rand.NewPCG(1, 2))
	for try := range 2000 {
		ord := try % len(ix.docs)
		seq := ix.docs[ord].seq
		own := slices.DeleteFunc(decodeSeq(nil, seq), func(id uint32) bool { return id == boundary })
		for _, n := range []int{1, 2, 5, 20, 60} {
			var ids []uint32
			for range n {
				if rng.IntN(2) == 0 && len(own) > 0 {
					ids = append(ids, own[rng.IntN(len(own))])
				} else {
					ids = append(ids, uint32(rng.IntN(len(ix.terms))))
				}
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			var enc [][]byte
			for _, id := range ids {
				enc = append(enc, appendSeq(nil, id))
			}
			want := segmentsWith(nil, seq, enc)
			if got := segmentsWithIDs(nil, seq, ids); !slices.Equal(got, want) {
				t.Fatalf("doc %d, ids %v: segmentsWithIDs %v, segmentsWith %v", ord, ids, got, want)
			}
		}
	}
}
