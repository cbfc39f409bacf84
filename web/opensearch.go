package web

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// OpenSearch 1.1 lets browsers add the directory as a search engine: the
// layout links this description from every page's head.

const openSearchNS = "http://a9.com/-/spec/opensearch/1.1/"

// openSearchDescription is an OpenSearch description document.
type openSearchDescription struct {
	XMLName        xml.Name        `xml:"OpenSearchDescription"`
	XMLNS          string          `xml:"xmlns,attr"`
	ShortName      string          `xml:"ShortName"`
	Description    string          `xml:"Description"`
	InputEncoding  string          `xml:"InputEncoding"`
	OutputEncoding string          `xml:"OutputEncoding"`
	URLs           []openSearchURL `xml:"Url"`
}

type openSearchURL struct {
	Type     string `xml:"type,attr"`
	Method   string `xml:"method,attr,omitempty"`
	Rel      string `xml:"rel,attr,omitempty"`
	Template string `xml:"template,attr"`
}

// openSearch serves the description. Browsers fetch it rarely, but the
// node's name can change, so it is kept an hour.
func (s *Server) openSearch(c echo.Context) error {
	name, err := s.openSearchName(c)
	if err != nil {
		return err
	}
	doc := openSearchDescription{
		XMLNS:          openSearchNS,
		ShortName:      shorten(name, 16), // the most OpenSearch allows
		Description:    fmt.Sprintf("Search the directory of worker cooperatives at %s: services, skills, places and languages.", name),
		InputEncoding:  "UTF-8",
		OutputEncoding: "UTF-8",
		URLs: []openSearchURL{
			{Type: "text/html", Method: "get", Template: s.apiAbsURL("/directory?q={searchTerms}")},
			{Type: "application/json", Method: "get", Template: s.apiAbsURL("/api/v1/search?q={searchTerms}")},
			{Type: "application/opensearchdescription+xml", Rel: "self", Template: s.apiAbsURL("/opensearch.xml")},
		},
	}
	body, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("web: opensearch: %w", err)
	}
	publicCache(c, 3600)
	return c.Blob(http.StatusOK, "application/opensearchdescription+xml; charset=utf-8",
		append([]byte(xml.Header), append(body, '\n')...))
}

// openSearchName is what browsers call the search: the coop's name on a node
// that hosts one coop, else the node's host.
func (s *Server) openSearchName(c echo.Context) (string, error) {
	coops, err := s.store.ListCoops(c.Request().Context())
	if err != nil {
		return "", err
	}
	if len(coops) == 1 {
		return coops[0].Name, nil
	}
	return s.cfg.BaseURL.Hostname(), nil
}

// shorten cuts s to at most n characters.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n]))
}
