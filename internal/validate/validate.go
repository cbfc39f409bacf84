// Package validate holds the checks that the domain packages share for user
// input, and the error type that carries a message per field to the forms and
// the JSON API.
package validate

import (
	"fmt"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
)

// Errors maps a field name, as spelled in forms and JSON, to what is wrong with
// it. The zero value is ready to use.
type Errors map[string]string

// Add records msg for field unless the field already has a message: the first
// problem found is the one worth telling.
func (e *Errors) Add(field, msg string) {
	if *e == nil {
		*e = Errors{}
	}
	if _, ok := (*e)[field]; !ok {
		(*e)[field] = msg
	}
}

// Err returns nil when there are no errors, and an *Error otherwise.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return &Error{Fields: e}
}

// Error is invalid input: one message per offending field.
type Error struct {
	Fields Errors
}

func (e *Error) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Required checks that a trimmed value is present and at most max characters.
func Required(e *Errors, field, value string, max int) {
	if strings.TrimSpace(value) == "" {
		e.Add(field, "is required")
		return
	}
	MaxLen(e, field, value, max)
}

// MaxLen checks that value has at most max characters and is clean text.
func MaxLen(e *Errors, field, value string, max int) {
	if utf8.RuneCountInString(value) > max {
		e.Add(field, fmt.Sprintf("must be at most %d characters", max))
	}
	CleanText(e, field, value)
}

// CleanText refuses invalid UTF-8 and control characters other than tab and
// line breaks: PostgreSQL refuses NUL in text, and the others only hide things.
func CleanText(e *Errors, field, value string) {
	if !utf8.ValidString(value) {
		e.Add(field, "must be valid UTF-8 text")
		return
	}
	for _, r := range value {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			e.Add(field, "must not contain control characters")
			return
		}
	}
}

// IsCleanText reports whether CleanText would accept value.
func IsCleanText(value string) bool {
	var e Errors
	CleanText(&e, "", value)
	return len(e) == 0
}

// Email checks a plain e-mail address (no display name).
func Email(e *Errors, field, value string) {
	if value == "" {
		return
	}
	a, err := mail.ParseAddress(value)
	if err != nil || a.Address != value || len(value) > 254 {
		e.Add(field, "must be an e-mail address such as name@example.org")
	}
}

// HTTPURL checks an absolute http or https URL.
func HTTPURL(e *Errors, field, value string) {
	if value == "" {
		return
	}
	u, err := url.Parse(value)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(value) > 2000 {
		e.Add(field, "must be a web address starting with https:// or http://")
	}
}

// Country checks an ISO 3166-1 alpha-2 country code and returns it upper-cased.
func Country(e *Errors, field, value string) string {
	if value == "" {
		return ""
	}
	v := strings.ToUpper(strings.TrimSpace(value))
	r, err := language.ParseRegion(v)
	if err != nil || len(v) != 2 || !r.IsCountry() {
		e.Add(field, fmt.Sprintf("%q is not an ISO 3166-1 country code such as US, CA or DE", value))
		return value
	}
	return r.String()
}

// Languages checks BCP 47 language tags and returns them in canonical form.
func Languages(e *Errors, field string, values []string) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		tag, err := language.Parse(v)
		if err != nil || len(v) > 35 {
			e.Add(field, fmt.Sprintf("%q is not a language tag such as en, es or pt-BR", v))
			continue
		}
		out = append(out, tag.String())
	}
	return Dedupe(out)
}

// Currency checks an ISO 4217 code and returns it upper-cased.
func Currency(e *Errors, field, value string) string {
	if value == "" {
		return ""
	}
	u, err := currency.ParseISO(strings.TrimSpace(value))
	if err != nil {
		e.Add(field, fmt.Sprintf("%q is not a currency code such as USD or EUR", value))
		return value
	}
	return u.String()
}

// OneOf checks that value is one of allowed.
func OneOf(e *Errors, field, value string, allowed []string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	e.Add(field, "must be one of: "+strings.Join(allowed, ", "))
}

// Tags checks a list of short labels: at most max items of at most maxLen
// characters each. It returns them trimmed, without blanks or duplicates
// (compared without regard to case).
func Tags(e *Errors, field string, values []string, max, maxLen int) []string {
	out := Dedupe(values)
	if len(out) > max {
		e.Add(field, fmt.Sprintf("at most %d entries", max))
	}
	for _, v := range out {
		if utf8.RuneCountInString(v) > maxLen {
			e.Add(field, fmt.Sprintf("each entry must be at most %d characters", maxLen))
		}
		CleanText(e, field, v)
	}
	return out
}

// Dedupe trims values and drops blanks and case-insensitive duplicates, keeping
// the first spelling and the order.
func Dedupe(values []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		k := strings.ToLower(v)
		if v == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, v)
	}
	return out
}

// SplitList splits a comma- or newline-separated form value into items.
func SplitList(s string) []string {
	return Dedupe(strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }))
}
