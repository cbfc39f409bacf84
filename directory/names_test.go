package directory

import (
	"reflect"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct {
		coop     Coop
		location string
		langs    []string
	}{
		{Coop{City: "Leipzig", Region: "Saxony", Country: "DE", Languages: []string{"de", "pt-BR"}}, "Leipzig, Saxony, Germany", []string{"German", "Brazilian Portuguese"}},
		{Coop{Country: "CA"}, "Canada", []string{}},
		{Coop{City: "Nowhere", Country: "Q1", Languages: []string{"not a tag!"}}, "Nowhere, Q1", []string{"not a tag!"}},
		{Coop{}, "", []string{}},
	}
	for _, tt := range tests {
		if got := tt.coop.Location(); got != tt.location {
			t.Errorf("Location() = %q, want %q", got, tt.location)
		}
		if got := tt.coop.LanguageNames(); !reflect.DeepEqual(got, tt.langs) {
			t.Errorf("LanguageNames() = %q, want %q", got, tt.langs)
		}
	}
}
