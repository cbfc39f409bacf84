// Package markup renders the text coops write (a profile summary, a service
// description) from a small Markdown subset into HTML that is safe to show on
// our pages and to send to federation peers.
package markup

import (
	"bytes"
	"html"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// MaxSource is the longest text rendered; the rest is cut off. Profile fields
// are limited to 5,000 characters anyway: this only bounds the work done for
// text that arrives from elsewhere (federation).
const MaxSource = 20000

// HeadingLevel is the level every Markdown heading is rendered at. Pages put
// the text under their own h1 and h2, so any heading the author writes comes
// next in order; authors cannot add a second h1 to a page.
const HeadingLevel = 3

// linkRel is set on every link: we do not vouch for the links coops write,
// and the target page gets no handle on ours.
const linkRel = "nofollow noopener"

// The renderer and the policy are built once; both are safe for concurrent
// use and never change afterwards.
var (
	md     = newMarkdown()
	policy = newPolicy()
	// goldmark ends every block with a newline, so stripping the tags
	// still leaves words of separate blocks apart.
	strict = bluemonday.StrictPolicy()
)

// Render returns src as sanitized HTML. Raw HTML in src is dropped, images
// become their description, headings are h3, links are http, https or
// mailto only and carry rel="nofollow noopener".
func Render(src string) string {
	src = cut(src, MaxSource)
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails when writing to buf fails, which it cannot:
		// showing the text escaped is the safe fallback anyway.
		return "<p>" + html.EscapeString(src) + "</p>"
	}
	return policy.Sanitize(buf.String())
}

// Plain returns the text of src without any markup, on one line: for
// excerpts, page descriptions and search snippets.
func Plain(src string) string {
	txt := html.UnescapeString(strict.Sanitize(Render(src)))
	return strings.Join(strings.Fields(txt), " ")
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func newMarkdown() goldmark.Markdown {
	// html.WithUnsafe is deliberately absent: raw HTML is replaced by a
	// comment, which the policy then removes.
	return goldmark.New(
		goldmark.WithExtensions(extension.Linkify, extension.Strikethrough),
		goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(tidy{}, 100))),
	)
}

// tidy adjusts the parsed document to what our pages can show.
type tidy struct{}

// Transform implements parser.ASTTransformer.
func (tidy) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	src := reader.Source()
	var images []*ast.Image
	var badLinks []*ast.Link
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			n.Level = HeadingLevel
		case *ast.Link:
			if !allowedURL(string(n.Destination)) {
				badLinks = append(badLinks, n)
			}
			n.SetAttributeString("rel", []byte(linkRel))
		case *ast.AutoLink:
			n.SetAttributeString("rel", []byte(linkRel))
		case *ast.Image:
			images = append(images, n)
		}
		return ast.WalkContinue, nil
	})
	for _, img := range images {
		// An image from anywhere would let the author track readers (and
		// our Content-Security-Policy blocks it): show its description.
		alt := ast.NewString(imageText(img, src))
		img.Parent().ReplaceChild(img.Parent(), img, alt)
	}
	for _, l := range badLinks {
		unwrap(l)
	}
}

// allowedURL reports whether a link may point to dest: absolute http, https
// and mailto only. Relative links would point elsewhere once a peer shows
// the text.
func allowedURL(dest string) bool {
	u, err := url.Parse(dest)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	case "mailto":
		return u.Opaque != ""
	}
	return false
}

// unwrap replaces a link by its label: the text stays, the link goes.
func unwrap(n ast.Node) {
	parent := n.Parent()
	for c := n.FirstChild(); c != nil; c = n.FirstChild() {
		parent.InsertBefore(parent, n, c)
	}
	parent.RemoveChild(parent, n)
}

func imageText(img *ast.Image, src []byte) []byte {
	var b bytes.Buffer
	_ = ast.Walk(img, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := n.(*ast.Text); ok && entering {
			b.Write(t.Segment.Value(src))
		}
		return ast.WalkContinue, nil
	})
	return b.Bytes()
}

func newPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements("p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
		"ul", "ol", "li", "h3", "h4", "h5", "h6")
	p.AllowAttrs("start").Matching(bluemonday.Integer).OnElements("ol")
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("title").Matching(bluemonday.Paragraph).OnElements("a")
	p.AllowAttrs("rel").Matching(regexp.MustCompile(`^` + linkRel + `$`)).OnElements("a")
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.RequireNoFollowOnLinks(true)
	return p
}
