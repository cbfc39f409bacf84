package directory

import (
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Location is where the coop is, in words: "Leipzig, Saxony, Germany".
func (c Coop) Location() string {
	var parts []string
	for _, p := range []string{c.City, c.Region, CountryName(c.Country)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// LanguageNames are the coop's languages in English words (en, pt-BR:
// English, Brazilian Portuguese).
func (c Coop) LanguageNames() []string {
	out := make([]string, 0, len(c.Languages))
	for _, t := range c.Languages {
		name := t
		if tag, err := language.Parse(t); err == nil {
			if n := display.English.Tags().Name(tag); n != "" {
				name = n
			}
		}
		out = append(out, name)
	}
	return out
}

// CountryName is the English name of an ISO 3166-1 code, or the code itself
// when it names no country.
func CountryName(code string) string {
	if code == "" {
		return ""
	}
	r, err := language.ParseRegion(code)
	if err != nil {
		return code
	}
	if n := display.English.Regions().Name(r); n != "" {
		return n
	}
	return code
}
