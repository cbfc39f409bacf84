package search

import "encoding/binary"

// A doc's term sequence is stored as varints of term id + 1, with a 0 byte
// for each segment boundary: one or two bytes a term instead of four, and
// the sequence is the largest thing the index keeps per doc.

// appendSeq appends id (or boundary) to seq.
func appendSeq(seq []byte, id uint32) []byte {
	if id == boundary {
		return append(seq, 0)
	}
	return binary.AppendUvarint(seq, uint64(id)+1)
}

// readSeq returns the term id (or boundary) at seq[i] and the next index.
func readSeq(seq []byte, i int) (uint32, int) {
	if b := seq[i]; b < 0x80 {
		if b == 0 {
			return boundary, i + 1
		}
		return uint32(b) - 1, i + 1
	}
	v, n := binary.Uvarint(seq[i:])
	return uint32(v - 1), i + n
}

// decodeSeq appends the ids of seq to dst.
func decodeSeq(dst []uint32, seq []byte) []uint32 {
	for i := 0; i < len(seq); {
		var id uint32
		id, i = readSeq(seq, i)
		dst = append(dst, id)
	}
	return dst
}
