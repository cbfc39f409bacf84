package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/directory/search/searchtest"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// TestAPISearchBytes checks that the hand-written answer is what
// encoding/json makes of searchJSON, byte for byte: on first sight of each
// listing, from the cache, and after changes that leave a listing's
// UpdatedAt as it was (a service edited, a peer reachable again).
func TestAPISearchBytes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		n := newDirNode(t, d)
		// Text that JSON and HTML must escape, in every kind of field.
		odd := n.dirAddPeer(t, "odd.example", directory.Coop{
			Name: `Odd <b>"Quotes"</b> & Co`, Summary: "Tabs\there, a\u2028line and a\u2029paragraph, \x01 and \x7f; é ü 日本 \U0001F600",
			City: `Back\slash`, Region: "Île-de-France", Country: "FR", Languages: []string{"fr", "de"},
			Capacity: directory.CapacityOpen, RemoteFriendly: true, Discoverable: true},
			directory.Service{Title: "Bad UTF-8 \xff\xfe here", Category: "other", Tags: []string{"<script>", "a&b", "ü"},
				Pricing: "hourly"})
		n.syncDirectory(t)

		queries := []string{"", "q=civicrm", "q=wordpress", "country=CA", "q=odd", "q=quotes&facets=true",
			"limit=2&offset=1", "q=nothing+matches+this", "facets=1&language=fr"}
		check := func(t *testing.T) {
			t.Helper()
			for _, query := range queries {
				want := referenceSearchBytes(t, n, query)
				for range 2 { // twice: nothing carries over wrongly
					rec := n.apiCall(t, http.MethodGet, "/api/v1/search?"+query, "", "")
					if rec.Code != http.StatusOK {
						t.Fatalf("%s: status %d: %s", query, rec.Code, rec.Body)
					}
					if got := rec.Body.Bytes(); !bytes.Equal(got, want) {
						t.Fatalf("%s: answer differs from encoding/json's\n got: %s\nwant: %s", query, got, want)
					}
					if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(len(want)) {
						t.Errorf("%s: Content-Length %q, want %d", query, cl, len(want))
					}
				}
			}
		}
		check(t)

		// A service's title changes and gamma is reachable again: neither
		// touches the coops' updated_at, and both must show at once.
		actor := "https://odd.example/coops/odd"
		if _, err := n.store.UpsertRemoteService(ctx, nil, odd, directory.RemoteService{
			Service:  directory.Service{Title: "Renamed service", Category: "other", Tags: []string{"x"}, Pricing: "hourly", Active: true},
			ObjectID: actor + "/services/1", URL: actor + "/services/1"}); err != nil {
			t.Fatal(err)
		}
		if err := n.store.SetUnreachable(ctx, n.gamma, nil); err != nil {
			t.Fatal(err)
		}
		n.syncDirectory(t)
		check(t)
		body := n.apiCall(t, http.MethodGet, "/api/v1/search?q=odd", "", "").Body.String()
		if !strings.Contains(body, "Renamed service") || strings.Contains(body, "Bad UTF-8") {
			t.Errorf("the edited service does not show: %s", body)
		}
		gamma := apiRead[searchJSON](t, n.apiCall(t, http.MethodGet, "/api/v1/search?country=CA", "", ""), http.StatusOK)
		if len(gamma.Results) != 1 || gamma.Results[0].Stale || gamma.Results[0].UnreachableSince != nil {
			t.Errorf("gamma still unreachable: %+v", gamma.Results)
		}

		// ?pretty indents, as echo's c.JSON does.
		rec := n.apiCall(t, http.MethodGet, "/api/v1/search?q=civicrm&pretty", "", "")
		var want bytes.Buffer
		if err := json.Indent(&want, referenceSearchBytes(t, n, "q=civicrm"), "", "  "); err != nil {
			t.Fatal(err)
		}
		if rec.Body.String() != want.String() {
			t.Errorf("pretty:\n%s\nwant:\n%s", rec.Body, want.String())
		}
	})
}

// referenceSearchBytes runs query on n's directory and encodes the answer
// as apiSearch did before it wrote JSON by hand: json.Encoder on the struct.
func referenceSearchBytes(t *testing.T, n *dirNode, query string) []byte {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, errs := parseDirectoryQuery(v)
	q.Facets = boolParam(&errs, v, "facets")
	if len(errs) > 0 {
		t.Fatalf("%s: %v", query, errs)
	}
	res, err := n.dir.Search(q.Query)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://localhost:8080")
	s := &Server{cfg: Config{BaseURL: base}}
	out := searchJSON{Total: res.Total, Page: q.Page, PerPage: q.PerPage, Offset: q.Offset, Relaxed: res.Relaxed,
		Results: make([]resultJSON, 0, len(res.Hits))}
	for _, h := range res.Hits {
		out.Results = append(out.Results, referenceResult(s, h))
	}
	if q.Facets {
		out.Facets = newFacetsJSON(res.Facets)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// referenceResult is h as a struct, for encoding/json.
func referenceResult(s *Server, h directory.SearchHit) resultJSON {
	l := *h.Listing
	r := resultJSON{listingJSON: listingJSON{
		Name: l.Name, Slug: l.Slug, Handle: s.listingHandle(l), Local: l.Local(), Summary: l.Summary,
		City: l.City, Region: l.Region, Country: l.Country, Languages: orEmpty(l.Languages),
		Capacity: string(l.Capacity), RemoteFriendly: l.RemoteFriendly, Stale: l.Stale,
		UnreachableSince: l.UnreachableSince, Services: make([]serviceJSON, 0, len(l.Services)),
	}, Matched: make([]matchJSON, 0, len(h.Matched)), Score: h.Score}
	r.ProfileURL, r.RequestURL = listingLinks(l, s.apiAbsURL(""))
	for _, svc := range l.Services {
		r.Services = append(r.Services, serviceJSON{Title: svc.Title, Category: svc.Category,
			Tags: orEmpty(svc.Tags), Pricing: svc.Pricing, URL: serviceURL(&l, &svc, s.apiAbsURL(""))})
	}
	for _, m := range h.Matched {
		r.Matched = append(r.Matched, matchJSON{Field: m.Field, Text: m.Text})
	}
	return r
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted" \back\slash/`, "<script>&amp;</script>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"é ü 日本 \U0001F600", "\u2028\u2029", "bad \xff\xfe utf-8", "cut \xe6\x97", "\xed\xa0\x80 surrogate",
		strings.Repeat("long text, ", 100),
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

// Every byte value, at every place of an eight-byte block, in plain text:
// the eight-at-a-time path must send each special one to the slow path.
func TestAppendJSONStringEveryByte(t *testing.T) {
	const text = "abcdefghijklmnopqrstuvwxyz"
	for c := range 256 {
		for pos := range 10 {
			s := text[:pos] + string([]byte{byte(c)}) + text[pos:]
			for _, v := range []string{s, s + "\u00e9", "\u2028" + s} {
				want, _ := json.Marshal(v)
				if got := appendJSONString(nil, v); !bytes.Equal(got, want) {
					t.Fatalf("appendJSONString(%q) = %s, want %s", v, got, want)
				}
			}
		}
	}
}

func TestAppendJSONFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 12.345678901234567, 1e-6, 9.99e-7, 1e-7, 1.5e-300, 1e20, 1e21,
		123456789e15, math.MaxFloat64, math.SmallestNonzeroFloat64, -2.5e-8} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendJSONFloat(%v) = %s, want %s", f, got, want)
		}
	}
	if got := string(appendJSONFloat(nil, math.NaN())); got != "0" {
		t.Errorf("NaN: %s", got)
	}
}

func TestAppendJSONTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 6, 0, 0, 123456000, time.FixedZone("", 3600)),
	} {
		want, _ := json.Marshal(&tm)
		if got := appendJSONTime(nil, &tm); !bytes.Equal(got, want) {
			t.Errorf("appendJSONTime(%v) = %s, want %s", tm, got, want)
		}
	}
	if got := string(appendJSONTime(nil, nil)); got != "null" {
		t.Errorf("nil: %s", got)
	}
}

// BenchmarkSearchAnswer times the results of one page (20 coops of ten
// services each, from the search benchmark's generated network) written by
// hand: the 10,000 listings in turn (their text is not in the CPU's
// caches), and the same 20 again and again; then by encoding/json, as
// apiSearch did before. The listings here are neither compacted nor marked
// plain, so every string takes the escape scan: the worst case.
func BenchmarkSearchAnswer(b *testing.B) {
	docs := searchtest.Generate(1, 10000, 10)
	hits := make([]directory.SearchHit, len(docs))
	for i, d := range docs {
		l := directory.Listing{ID: d.ID, Slug: fmt.Sprint("coop-", d.ID), Name: d.Name, Summary: d.Summary,
			Domain: "peer.example", ActorID: fmt.Sprint("https://peer.example/coops/coop-", d.ID), City: d.City,
			Region: d.Region, Country: d.Country, Languages: d.Languages, Capacity: directory.Capacity(d.Capacity),
			RemoteFriendly: d.RemoteFriendly}
		l.URL = l.ActorID
		for _, svc := range d.Services {
			l.Services = append(l.Services, directory.ListingService{ID: svc.ID, Title: svc.Title, Category: svc.Category,
				Tags: svc.Tags, Pricing: svc.Pricing, URL: fmt.Sprint(l.URL, "/services/", svc.ID)})
		}
		hits[i] = directory.SearchHit{Listing: &l, Score: 3.25, Matched: []search.Match{{Field: "service", Text: d.Services[0].Title}}}
	}
	base, _ := url.Parse("http://localhost:8080")
	pageHits := make([]directory.SearchHit, 20)
	page := func(s *Server, buf []byte, i int, spread bool) []byte {
		for j := range pageHits {
			k := j
			if spread {
				k = (i*20 + j) * 7919 % len(hits) // every listing in turn, none twice in a row
			}
			pageHits[j] = hits[k]
		}
		return s.appendResults(buf[:0], pageHits, base.String())
	}
	for _, bc := range []struct {
		name   string
		spread bool
	}{{"spread", true}, {"same page", false}} {
		b.Run(bc.name, func(b *testing.B) {
			s := &Server{cfg: Config{BaseURL: base}}
			buf := page(s, nil, 0, bc.spread)
			for i := range len(hits) / 20 {
				buf = page(s, buf, i, bc.spread)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				buf = page(s, buf, i, bc.spread)
			}
		})
	}
	b.Run("encoding/json", func(b *testing.B) {
		s := &Server{cfg: Config{BaseURL: base}}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			out := make([]resultJSON, 0, 20)
			for j := range 20 {
				out = append(out, referenceResult(s, hits[(i*20+j)*7919%len(hits)]))
			}
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
