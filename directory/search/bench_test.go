package search_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/directory/search/searchtest"
)

// The benchmarks run over 10,000 coops with 10 services each, built once.
var bench struct {
	once    sync.Once
	docs    []search.Doc
	index   *search.Index
	queries []search.Query
}

func benchData(b *testing.B) (*search.Index, []search.Doc, []search.Query) {
	bench.once.Do(func() {
		bench.docs = searchtest.Generate(1, 10000, 10)
		bench.index = search.New()
		for _, d := range bench.docs {
			if err := bench.index.Put(d); err != nil {
				b.Fatal(err)
			}
		}
		bench.queries = searchtest.Queries(2, 1000)
	})
	return bench.index, bench.docs, bench.queries
}

// reportLatency adds the median and 99th percentile of the calls' durations.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	us := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
}

func benchSearch(b *testing.B, facets bool) { benchSearchChanging(b, facets, false) }

// benchSearchChanging runs the queries in turn; with change, each after a
// Put of one doc, which empties the index's word cache.
func benchSearchChanging(b *testing.B, facets, change bool) {
	ix, docs, queries := benchData(b)
	lat := make([]time.Duration, 0, b.N)
	total := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if change {
			if err := ix.Put(docs[i%len(docs)]); err != nil {
				b.Fatal(err)
			}
		}
		q := queries[i%len(queries)]
		q.Facets = facets
		start := time.Now()
		res, err := ix.Search(q)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		total += len(res.Hits)
	}
	b.StopTimer()
	reportLatency(b, lat)
	b.ReportMetric(float64(total)/float64(len(lat)), "hits/op")
}

// BenchmarkSearch runs 1-3 word queries with a region or skill filter, top 20.
func BenchmarkSearch(b *testing.B) { benchSearch(b, false) }

// BenchmarkSearchAfterChange runs the same queries, each right after a
// change to the index: every query word is resolved afresh. Its p50 and p99
// are the searches' alone; ns/op includes the Put.
func BenchmarkSearchAfterChange(b *testing.B) { benchSearchChanging(b, false, true) }

// BenchmarkSearchFacets runs the same queries with facets.
func BenchmarkSearchFacets(b *testing.B) { benchSearch(b, true) }

// BenchmarkBaseline runs the same queries on the naive index.
func BenchmarkBaseline(b *testing.B) {
	_, docs, queries := benchData(b)
	base := search.NewBaseline(docs)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		base.Search(queries[i%len(queries)])
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkBuild puts 10,000 coops into an empty index.
func BenchmarkBuild(b *testing.B) {
	_, docs, _ := benchData(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ix := search.New()
		for _, d := range docs {
			if err := ix.Put(d); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		st := ix.Stats()
		b.ReportMetric(float64(st.Bytes)/(1<<20), "index-MiB")
		b.ReportMetric(float64(st.Terms), "terms")
		b.StartTimer()
	}
}
