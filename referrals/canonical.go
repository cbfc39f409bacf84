package referrals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Canonical JSON: what the origin signs, so that the bytes of a payload are
// one function of its content, whoever encodes it.
//
// The form is RFC 8785 (JSON Canonicalization Scheme) restricted to what the
// payloads hold, which keeps it a page of code:
//   - objects have their members sorted by key, compared byte-wise (the keys
//     are ASCII, where this equals RFC 8785's UTF-16 order);
//   - no whitespace anywhere;
//   - strings escape only '"', '\' and the control characters (\b \t \n \f \r,
//     other ones as \u00xx with lower-case hex); everything else, '<', '&',
//     U+2028 and non-ASCII included, is written as UTF-8;
//   - numbers are integers, written in plain decimal (no fraction, exponent,
//     leading zero or -0); a payload never holds other numbers;
//   - true, false and null as such.
//
// An implementation elsewhere reproduces it by sorting keys and escaping as
// above; the receiver checks that the signed bytes are canonical, so two
// readings of one payload (say, with duplicate keys) cannot differ.

var integerRE = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

// CanonicalJSON encodes v (anything encoding/json encodes to objects,
// arrays, strings, integers, booleans and null) in the canonical form above.
func CanonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("referrals: canonical json: %w", err)
	}
	return canonicalize(raw)
}

// canonicalize re-encodes JSON text in canonical form.
func canonicalize(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("referrals: canonical json: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("referrals: canonical json: data after the value")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, tree); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// isCanonical reports whether raw is exactly its canonical form.
func isCanonical(raw []byte) bool {
	c, err := canonicalize(raw)
	return err == nil && bytes.Equal(c, raw)
}

func writeCanonical(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		if !integerRE.MatchString(v.String()) {
			return fmt.Errorf("referrals: canonical json: %s is not an integer", v)
		}
		b.WriteString(v.String())
	case string:
		return writeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := writeCanonical(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("referrals: canonical json: unexpected %T", v)
	}
	return nil
}

const hexDigits = "0123456789abcdef"

func writeString(b *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("referrals: canonical json: invalid UTF-8")
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c >= 0x20:
			b.WriteByte(c)
		default:
			if esc := strings.IndexByte("\b\t\n\f\r", c); esc >= 0 {
				b.WriteByte('\\')
				b.WriteByte("btnfr"[esc])
			} else {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
		}
	}
	b.WriteByte('"')
	return nil
}
