package directory

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

func TestCompactListing(t *testing.T) {
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		l     Listing
		plain bool
	}{
		{"empty", Listing{}, true},
		{"nil and empty lists", Listing{ID: 1, Name: "Alpha", Languages: []string{}, Skills: nil}, true},
		{"text to escape", Listing{ID: 2, Name: "Alpha & Beta", Services: []ListingService{{Title: "ok"}}}, false},
		{"escape in a tag", Listing{ID: 3, Name: "Alpha", Services: []ListingService{{Title: "ok", Tags: []string{`"x"`}}}}, false},
		{"full", Listing{
			ID: 7, Slug: "alpha", Name: "Alpha Tech ü", Summary: "We build websites…", Domain: "peer.example",
			ActorID: "https://peer.example/coops/alpha", URL: "https://peer.example/@alpha", IconURL: "https://peer.example/i.png",
			HasLogo: true, City: "Sevilla", Region: "Andalucía", Country: "ES", RegionsServed: []string{"ES", "PT"},
			RemoteFriendly: true, Languages: []string{"es", "en"}, Capacity: "open", Skills: []string{"civicrm", "drupal"},
			Services: []ListingService{
				{ID: 1, Title: "CiviCRM migration", Category: "crm", Tags: []string{"civicrm", "migration"}, Pricing: "sliding-scale", URL: "https://peer.example/s/1"},
				{ID: 2, Title: "Hosting", Category: "hosting", Tags: nil, Pricing: "fixed"},
				{ID: 3, Title: "", Category: "other", Tags: []string{}, Pricing: "pro-bono"},
			},
			UpdatedAt: since, UnreachableSince: &since,
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := clone(tc.l)
			want.PlainText = tc.plain
			got := tc.l
			compactListing(&got)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("compacted listing differs:\n got %#v\nwant %#v", got, want)
			}
			// Every string now lies in one block: its bytes are within
			// the span from the first string's start to the last's end.
			all := []string{got.Slug, got.Name, got.Summary, got.City, got.Country}
			for _, s := range got.Services {
				all = append(all, s.Title, s.URL)
				all = append(all, s.Tags...)
			}
			var lo, hi uintptr
			for _, s := range all {
				if s == "" {
					continue
				}
				p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
				if lo == 0 || p < lo {
					lo = p
				}
				hi = max(hi, p+uintptr(len(s)))
			}
			if lo != 0 && hi-lo > uintptr(textBytes(want)) {
				t.Errorf("strings spread over %d bytes for %d bytes of text: not one block", hi-lo, textBytes(want))
			}
		})
	}
}

// clone copies l deeply, so that compacting l cannot change it.
func clone(l Listing) Listing {
	c := l
	dup := func(s []string) []string {
		if s == nil {
			return nil
		}
		return append([]string{}, s...)
	}
	c.RegionsServed, c.Languages, c.Skills = dup(l.RegionsServed), dup(l.Languages), dup(l.Skills)
	if l.Services != nil {
		c.Services = append([]ListingService{}, l.Services...)
		for i := range c.Services {
			c.Services[i].Tags = dup(l.Services[i].Tags)
		}
	}
	return c
}

// textBytes is the length of all the strings of l.
func textBytes(l Listing) int {
	n := len(l.Slug) + len(l.Name) + len(l.Summary) + len(l.Domain) + len(l.ActorID) + len(l.URL) +
		len(l.IconURL) + len(l.City) + len(l.Region) + len(l.Country) + len(l.Capacity)
	for _, list := range [][]string{l.RegionsServed, l.Languages, l.Skills} {
		for _, s := range list {
			n += len(s)
		}
	}
	for _, s := range l.Services {
		n += len(s.Title) + len(s.Category) + len(s.Pricing) + len(s.URL)
		for _, t := range s.Tags {
			n += len(t)
		}
	}
	return n
}

// plainText must say "plain" exactly when encoding/json writes the text
// between quotes as it is: every byte at a few places, and the runes it
// escapes.
func TestPlainTextMatchesJSON(t *testing.T) {
	const text = "abcdefghij"
	var cases []string
	for c := range 256 {
		for pos := range 3 {
			s := text[:pos] + string([]byte{byte(c)}) + text[pos:]
			cases = append(cases, s, s+"é", "日本"+s)
		}
	}
	cases = append(cases, "", "\u2028", "a\u2029b", "\U0001F600", "é ü", "\xe6\x97", "\xed\xa0\x80", "…")
	for _, s := range cases {
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		want := string(enc) == `"`+s+`"`
		if got := plainText([]byte(s)); got != want {
			t.Errorf("plainText(%q) = %v, want %v (json: %s)", s, got, want, enc)
		}
	}
}
