package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

//go:embed templates
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pages holds one template set per page, each with the shared layout, so that
// every page can define its own "content" block.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"label":         directory.Label,
	"join":          strings.Join,
	"categories":    func() []directory.Option { return directory.Categories },
	"pricingModels": func() []directory.Option { return directory.PricingModels },
	"capacities":    func() []directory.Option { return directory.Capacities },
	"legalForms":    func() []directory.Option { return directory.LegalForms },
}

func loadPages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", n, err)
		}
		p.byName[base] = t
	}
	return p, nil
}

// view is what every page template gets: the page's own data in .Page, and
// what the layout needs.
type view struct {
	Page   any
	Member *directory.Member
	CSRF   string
	Path   string
}

// render writes the named page inside the layout. It renders into a buffer
// first, so that a template error becomes a clean 500, not half a page.
func (s *Server) render(c echo.Context, status int, name string, data any) error {
	t, ok := s.pages.byName[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	v := view{Page: data, Path: c.Request().URL.Path}
	if m, ok := currentMember(c); ok {
		v.Member = &m
	}
	if tok, ok := c.Get(csrfKey).(string); ok {
		v.CSRF = tok
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
