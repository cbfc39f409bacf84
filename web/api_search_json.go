package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// Writing search results by hand. encoding/json took a third of the node's
// CPU on the search API: reflection over 20 coops a page, each with all its
// services, and escaping 46 kB of strings an answer. apiSearch assembles the
// same bytes instead, field by field: a listing's text lies in one block
// (directory.compactListing) and most needs no escape (Listing.PlainText),
// which made a cache of listings' parts cost more than it saved. The output
// is what json.Encoder makes of searchJSON, byte for byte, which
// TestAPISearchBytes checks.

// searchAnswers is what the search API keeps between requests.
type searchAnswers struct {
	// buffers are answers' buffers, of tens of kB each, for reuse: fewer
	// allocations mean fewer garbage collections, and a smaller heap.
	buffers sync.Pool
}

// maxPooledBuffer is the largest answer buffer kept for reuse: a page of 100
// coops with many services is rare, and should not pin its buffer.
const maxPooledBuffer = 1 << 20

// writeSearchJSON writes res as searchJSON.
func (s *Server) writeSearchJSON(c echo.Context, q directoryQuery, res directory.SearchResults, facets *facetsJSON) error {
	bp, _ := s.answers.buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			s.answers.buffers.Put(bp)
		}
	}()
	b := append((*bp)[:0], `{"total":`...)
	b = strconv.AppendInt(b, int64(res.Total), 10)
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(q.Page), 10)
	b = append(b, `,"per_page":`...)
	b = strconv.AppendInt(b, int64(q.PerPage), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(q.Offset), 10)
	b = append(b, `,"relaxed":`...)
	b = strconv.AppendBool(b, res.Relaxed)
	b = append(b, `,"results":[`...)
	b = s.appendResults(b, res.Hits, s.apiAbsURL(""))
	b = append(b, ']')
	if facets != nil {
		f, err := json.Marshal(facets)
		if err != nil {
			return err
		}
		b = append(append(b, `,"facets":`...), f...)
	}
	b = append(b, "}\n"...) // json.Encoder ends with a newline
	*bp = b
	if _, pretty := c.QueryParams()["pretty"]; pretty || c.Echo().Debug {
		// As c.JSON does: indented, for people reading it.
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return err
		}
		b = out.Bytes()
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(b)
	return err
}

// appendResults appends the hits as resultJSON, with commas between. base
// is the node's URL, for links to its own coops.
func (s *Server) appendResults(b []byte, hits []directory.SearchHit, base string) []byte {
	for i := range hits {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendResult(b, &hits[i], base)
	}
	return b
}

// appendResult appends one hit as resultJSON.
func (s *Server) appendResult(b []byte, h *directory.SearchHit, base string) []byte {
	b = s.appendListing(b, h.Listing, base)
	b = append(b, `,"matched":[`...)
	for i, m := range h.Matched {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = appendJSONString(b, m.Field)
		b = append(b, `,"text":`...)
		b = appendJSONString(b, m.Text)
		b = append(b, '}')
	}
	b = append(b, `],"score":`...)
	b = appendJSONFloat(b, h.Score)
	return append(b, '}')
}

// appendListing appends listingJSON without its closing brace, for the
// matched words and the score to follow.
func (s *Server) appendListing(b []byte, l *directory.Listing, base string) []byte {
	profile, page := listingProfile(l, base)
	// The listing's own strings need no escapes when the directory found
	// its text plain. So are a peer's coop's links, made of them; the links
	// to this node's coops start with base, which goes through the full check.
	str, strs := appendJSONString, appendJSONStrings
	if l.PlainText {
		str, strs = appendPlainJSONString, appendPlainJSONStrings
	}
	plainLinks := l.PlainText && !l.Local()
	link := appendJSONString
	if plainLinks {
		link = appendPlainJSONString
	}
	b = append(b, `{"name":`...)
	b = str(b, l.Name)
	b = append(b, `,"slug":`...)
	b = str(b, l.Slug)
	b = append(b, `,"handle":`...)
	b = appendJSONJoin(b, plainLinks, l.Slug, "@", s.handleHost(l))
	b = append(b, `,"local":`...)
	b = strconv.AppendBool(b, l.Local())
	b = append(b, `,"profile_url":`...)
	b = link(b, profile)
	b = append(b, `,"request_url":`...)
	b = appendJSONJoin(b, plainLinks, page, requestAnchor)
	b = append(b, `,"summary":`...)
	b = str(b, l.Summary)
	b = append(b, `,"city":`...)
	b = str(b, l.City)
	b = append(b, `,"region":`...)
	b = str(b, l.Region)
	b = append(b, `,"country":`...)
	b = str(b, l.Country)
	b = append(b, `,"languages":`...)
	b = strs(b, l.Languages)
	b = append(b, `,"capacity":`...)
	b = str(b, string(l.Capacity))
	b = append(b, `,"remote_friendly":`...)
	b = strconv.AppendBool(b, l.RemoteFriendly)
	b = append(b, `,"stale":`...)
	b = strconv.AppendBool(b, l.Stale)
	b = append(b, `,"unreachable_since":`...)
	b = appendJSONTime(b, l.UnreachableSince)
	b = append(b, `,"services":[`...)
	for i := range l.Services {
		svc := &l.Services[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"title":`...)
		b = str(b, svc.Title)
		b = append(b, `,"category":`...)
		b = str(b, svc.Category)
		b = append(b, `,"tags":`...)
		b = strs(b, svc.Tags)
		b = append(b, `,"pricing":`...)
		b = str(b, svc.Pricing)
		b = append(b, `,"url":`...)
		b = link(b, serviceURL(l, svc, base))
		b = append(b, '}')
	}
	return append(b, ']')
}
