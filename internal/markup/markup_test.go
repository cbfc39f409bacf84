package markup

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string // substrings of the output
		notWant []string
	}{
		{"emphasis", "We *build* **sites**", []string{"<p>We <em>build</em> <strong>sites</strong></p>"}, nil},
		{"link gets rel", "[our site](https://coop.example/about)",
			[]string{`<a href="https://coop.example/about" rel="nofollow noopener">our site</a>`}, nil},
		{"bare address is linked", "see www.coop.example",
			[]string{`<a href="http://www.coop.example" rel="nofollow noopener">www.coop.example</a>`}, nil},
		{"mail link", "<hello@coop.example>", []string{`href="mailto:hello@coop.example"`}, nil},
		{"raw html dropped", `hi <script>alert(1)</script><b onclick="x()">b</b>`, []string{"hi"},
			[]string{"<script", "<b", "onclick"}},
		{"html block dropped", "<div style=\"x\">\n<iframe src=\"https://evil.example\"></iframe>\n</div>", nil,
			[]string{"<div", "<iframe", "evil"}},
		{"javascript link unwrapped", "[click](javascript:alert(1))", []string{"<p>click</p>"},
			[]string{"javascript", "<a"}},
		{"relative link unwrapped", "[other](/coops/beta)", []string{"<p>other</p>"}, []string{"<a", "/coops"}},
		{"image becomes its description", "![our logo](https://tracker.example/p.png) text",
			[]string{"<p>our logo text</p>"}, []string{"<img", "tracker"}},
		{"headings are h3", "# Big\n\n###### Small", []string{"<h3>Big</h3>", "<h3>Small</h3>"}, []string{"<h1", "<h6"}},
		{"lists and code", "1. one\n2. two\n\n- a\n\n`x<y`", []string{"<ol>", "<li>one</li>", "<ul>", "<code>x&lt;y</code>"}, nil},
		{"escapes text", "Tom & Jerry <3", []string{"Tom &amp; Jerry &lt;3"}, nil},
		{"empty", "", nil, []string{"<"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Render(tt.src)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Render(%q) = %q, want it to contain %q", tt.src, got, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("Render(%q) = %q, want no %q", tt.src, got, w)
				}
			}
		})
	}
}

func TestPlain(t *testing.T) {
	tests := []struct{ src, want string }{
		{"# Hello\n\nWe *build* [sites](https://x.example).", "Hello We build sites."},
		{"Tom & Jerry's <3", "Tom & Jerry's <3"},
		{"a <script>x</script> b", "a x b"},
		{"- one\n- two", "one two"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Plain(tt.src); got != tt.want {
			t.Errorf("Plain(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestRenderLongInputIsCut(t *testing.T) {
	got := Render(strings.Repeat("a", MaxSource+100))
	if n := strings.Count(got, "a"); n != MaxSource {
		t.Errorf("rendered %d characters, want %d", n, MaxSource)
	}
}

func TestCutKeepsCharactersWhole(t *testing.T) {
	if got := cut("aé", 2); got != "a" {
		t.Errorf("cut = %q, want %q", got, "a")
	}
	if got := cut("abc", 5); got != "abc" {
		t.Errorf("cut = %q", got)
	}
}
