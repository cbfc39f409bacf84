package web

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Appending JSON values to a buffer exactly as encoding/json writes them
// (with its default HTML escaping), for the search API's answers.

// appendJSONStrings appends a list of strings; nil is [], as orEmpty makes
// it in the structs.
func appendJSONStrings(b []byte, list []string) []byte {
	return appendStringList(b, list, appendJSONString)
}

// appendPlainJSONString appends s quoted, as it is: only for text known to
// need no escape (directory.Listing.PlainText).
func appendPlainJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONJoin appends the parts joined as one JSON string: as they are
// when plain, else through appendJSONString.
func appendJSONJoin(b []byte, plain bool, parts ...string) []byte {
	if !plain {
		return appendJSONString(b, strings.Join(parts, ""))
	}
	b = append(b, '"')
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, '"')
}

// appendPlainJSONStrings is appendJSONStrings for plain text.
func appendPlainJSONStrings(b []byte, list []string) []byte {
	return appendStringList(b, list, appendPlainJSONString)
}

func appendStringList(b []byte, list []string, str func([]byte, string) []byte) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = str(b, s)
	}
	return append(b, ']')
}

// appendJSONTime appends t as encoding/json does (RFC 3339 with the
// nanoseconds it has), or null.
func appendJSONTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONFloat appends f as encoding/json does: the shortest decimal
// that reads back as f, with an exponent only for very small or large
// values. A score is never NaN or infinite, which JSON cannot say: 0 then.
func appendJSONFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 becomes e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// jsonSafe marks the ASCII bytes that encoding/json writes as they are in a
// string: not the quote, the backslash and control characters, nor < > and &,
// which it escapes by default so that JSON stays inert inside HTML.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := byte(' '); c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it: the same
// escapes, invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped for
// JavaScript. Eight bytes at a time while none needs a look of its own:
// most text is plain ASCII, and this is where the answer's time goes.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Byte-wise tests on eight bytes at once (SWAR), from "Bit Twiddling Hacks":
// for v, (v - ones) &^ v & highs is not zero if and only if a byte of v is 0.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 reports whether the eight bytes of s are ASCII that JSON strings
// hold as they are: no byte of 0x80 or more, below 0x20, nor " \\ < > &.
func plain8(s string) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// Below 0x20: x - 0x20 in a byte borrows into its high bit; the bytes
	// of 0x80 or more are caught by the high bits of x itself.
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	lt, gt, amp := x^('<'*ones), x^('>'*ones), x^('&'*ones)
	bad := (x-0x20*ones)&^x | x |
		(quote-ones)&^quote | (backslash-ones)&^backslash |
		(lt-ones)&^lt | (gt-ones)&^gt | (amp-ones)&^amp
	return bad&highs == 0
}
