package validate

import (
	"reflect"
	"testing"
)

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		check func(e *Errors)
		bad   bool
	}{
		{"required empty", func(e *Errors) { Required(e, "f", "  ", 10) }, true},
		{"required ok", func(e *Errors) { Required(e, "f", "x", 10) }, false},
		{"too long", func(e *Errors) { MaxLen(e, "f", "héllo", 4) }, true},
		{"runes not bytes", func(e *Errors) { MaxLen(e, "f", "héllo", 5) }, false},
		{"email ok", func(e *Errors) { Email(e, "f", "a@example.org") }, false},
		{"email display name", func(e *Errors) { Email(e, "f", "A <a@example.org>") }, true},
		{"email garbage", func(e *Errors) { Email(e, "f", "not-mail") }, true},
		{"url ok", func(e *Errors) { HTTPURL(e, "f", "https://coop.example/") }, false},
		{"url javascript", func(e *Errors) { HTTPURL(e, "f", "javascript:alert(1)") }, true},
		{"url relative", func(e *Errors) { HTTPURL(e, "f", "/x") }, true},
		{"country ok", func(e *Errors) { Country(e, "f", "ca") }, false},
		{"country unknown", func(e *Errors) { Country(e, "f", "ZZ") }, true},
		{"country region code", func(e *Errors) { Country(e, "f", "419") }, true},
		{"country name", func(e *Errors) { Country(e, "f", "Canada") }, true},
		{"languages ok", func(e *Errors) { Languages(e, "f", []string{"en", "pt-BR"}) }, false},
		{"languages bad", func(e *Errors) { Languages(e, "f", []string{"english!"}) }, true},
		{"currency ok", func(e *Errors) { Currency(e, "f", "usd") }, false},
		{"currency bad", func(e *Errors) { Currency(e, "f", "XYZ1") }, true},
		{"one of", func(e *Errors) { OneOf(e, "f", "b", []string{"a"}) }, true},
		{"tags too many", func(e *Errors) { Tags(e, "f", []string{"a", "b", "c"}, 2, 10) }, true},
		{"nul", func(e *Errors) { MaxLen(e, "f", "a\x00b", 10) }, true},
		{"escape char", func(e *Errors) { Required(e, "f", "a\x1bb", 10) }, true},
		{"bad utf8", func(e *Errors) { MaxLen(e, "f", "a\xffb", 10) }, true},
		{"newlines ok", func(e *Errors) { MaxLen(e, "f", "a\r\n\tb", 10) }, false},
		{"nul in tag", func(e *Errors) { Tags(e, "f", []string{"a\x00"}, 2, 10) }, true},
		{"tag too long", func(e *Errors) { Tags(e, "f", []string{"abcdef"}, 2, 5) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Errors
			tt.check(&e)
			if got := e.Err() != nil; got != tt.bad {
				t.Fatalf("error = %v, want error %v", e, tt.bad)
			}
		})
	}
}

func TestNormalising(t *testing.T) {
	var e Errors
	if got := Country(&e, "c", "de"); got != "DE" {
		t.Errorf("Country = %q", got)
	}
	if got := Languages(&e, "l", []string{"EN", "pt-br", "en"}); !reflect.DeepEqual(got, []string{"en", "pt-BR"}) {
		t.Errorf("Languages = %q", got)
	}
	if got := SplitList("CiviCRM, drupal,\n civicrm ,,Go"); !reflect.DeepEqual(got, []string{"CiviCRM", "drupal", "Go"}) {
		t.Errorf("SplitList = %q", got)
	}
	if e.Err() != nil {
		t.Errorf("unexpected errors %v", e)
	}
}
