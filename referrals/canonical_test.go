package referrals

import (
	"fmt"
	"strings"
	"testing"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // empty: refused
	}{
		{name: "sorted keys, no space", in: `{ "b": 1, "a": [true, false, null], "c": {"z": "", "y": -7} }`,
			want: `{"a":[true,false,null],"b":1,"c":{"y":-7,"z":""}}`},
		{name: "negative zero refused", in: `{"n":-0}`},
		{name: "nested", in: `{"b":{"d":1,"c":2},"a":[{"y":1,"x":2}]}`, want: `{"a":[{"x":2,"y":1}],"b":{"c":2,"d":1}}`},
		{name: "escapes", in: `{"s":"q\" b\\ \u0001 \n\t <&> \u2028 é"}`, want: "{\"s\":\"q\\\" b\\\\ \\u0001 \\n\\t <&> \u2028 é\"}"},
		{name: "integer", in: `{"n":1234567890123}`, want: `{"n":1234567890123}`},
		{name: "fraction refused", in: `{"n":1.5}`},
		{name: "exponent refused", in: `{"n":1e3}`},
		{name: "trailing data refused", in: `{} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalize([]byte(tt.in))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
			if !isCanonical(got) {
				t.Fatal("output is not canonical")
			}
		})
	}
}

func TestIsCanonical(t *testing.T) {
	for _, s := range []string{`{"b":1,"a":2}`, `{"a":1,"a":2}`, `{"a": 1}`, `{"a":"\u0041"}`, `{"a":"<"}` + "\n"} {
		if isCanonical([]byte(s)) {
			t.Errorf("%s reported canonical", s)
		}
	}
	for _, s := range []string{`{"a":1,"b":[]}`, `{"a":"<>&"}`, `[]`} {
		if !isCanonical([]byte(s)) {
			t.Errorf("%s reported not canonical", s)
		}
	}
}

func TestCanonicalPayloadIsStable(t *testing.T) {
	min := int64(100)
	p := Payload{Version: 1, PublicID: "abcdefghijklmnop", Origin: actorA, To: actorB, HopLimit: 3,
		Details: Details{Description: "A site", Categories: []string{"web-development"}, Skills: []string{}, BudgetMin: &min},
		Created: now, Expires: now.Add(DefaultOfferTTL)}
	a, err := CanonicalJSON(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"budget_max":null,"budget_min":100,"categories":["web-development"],"consent_to_share":false,` +
		`"contact_digest":"","country":"","created":"2030-05-01T12:00:00Z","currency":"","deadline":"",` +
		`"description":"A site","expires":"2030-05-31T12:00:00Z","hop_limit":3,"language":"","organization":"",` +
		`"origin":"https://a.example/coops/alpha","public_id":"abcdefghijklmnop","region":"","skills":[],` +
		`"to":"https://b.example/coops/beta","v":1}`
	if string(a) != want {
		t.Fatalf("got  %s\nwant %s", a, want)
	}
}
