package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"

	"github.com/coopnet/coopnet/directory/search"
)

// The engine phase: the index alone, in this process, on one core
// (GOMAXPROCS 1, one goroutine), against search.Baseline on the same docs
// and queries.

// engineWarmUp bounds the queries run untimed before each timed run.
const engineWarmUp = 2000

// engineResult is what the engine phase measured.
type engineResult struct {
	docs, services       int
	build, baselineBuild time.Duration
	stats                search.Stats
	heapGrowth           int64 // live heap the index added, after a GC
	plain, facets, base  queryRun
}

// queryRun is one timed pass over the queries.
type queryRun struct {
	latencies []time.Duration // sorted
	wall      time.Duration
	noHit     int // queries that found nothing
}

// benchEngine builds the index and the baseline from docs and times
// queries on each.
func benchEngine(docs []search.Doc, queries []search.Query) (engineResult, error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var r engineResult
	r.docs = len(docs)
	for _, d := range docs {
		r.services += len(d.Services)
	}
	heapBefore := liveHeap()
	began := time.Now()
	ix := search.New()
	for _, d := range docs {
		if err := ix.Put(d); err != nil {
			return r, fmt.Errorf("engine: put coop %d: %w", d.ID, err)
		}
	}
	r.build = time.Since(began)
	r.heapGrowth = liveHeap() - heapBefore
	r.stats = ix.Stats()
	began = time.Now()
	base := search.NewBaseline(docs)
	r.baselineBuild = time.Since(began)

	engine := func(facets bool) func(search.Query) (bool, error) {
		return func(q search.Query) (bool, error) {
			q.Facets = facets
			res, err := ix.Search(q)
			return res.Total > 0, err
		}
	}
	var err error
	if r.plain, err = timeQueries(queries, engine(false)); err != nil {
		return r, err
	}
	if r.facets, err = timeQueries(queries, engine(true)); err != nil {
		return r, err
	}
	r.base, err = timeQueries(queries, func(q search.Query) (bool, error) { return len(base.Search(q)) > 0, nil })
	runtime.KeepAlive(docs)
	return r, err
}

// timeQueries runs up to engineWarmUp queries untimed, then every query
// once, timing each.
func timeQueries(queries []search.Query, run func(search.Query) (bool, error)) (queryRun, error) {
	for _, q := range queries[:min(len(queries), engineWarmUp)] {
		if _, err := run(q); err != nil {
			return queryRun{}, fmt.Errorf("engine: query %q: %w", q.Text, err)
		}
	}
	r := queryRun{latencies: make([]time.Duration, 0, len(queries))}
	began := time.Now()
	for _, q := range queries {
		start := time.Now()
		hit, err := run(q)
		r.latencies = append(r.latencies, time.Since(start))
		if err != nil {
			return queryRun{}, fmt.Errorf("engine: query %q: %w", q.Text, err)
		}
		if !hit {
			r.noHit++
		}
	}
	r.wall = time.Since(began)
	slices.Sort(r.latencies)
	return r, nil
}

// liveHeap returns the bytes of live heap, after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// String reads "p50 0.051 ms, p90 0.130 ms, p99 0.402 ms, max 1.210 ms;
// 12,345 queries/s; 3.1% found nothing".
func (r queryRun) String() string {
	n := len(r.latencies)
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s; %.0f queries/s; %.1f%% found nothing",
		fineMs(percentile(r.latencies, 50)), fineMs(percentile(r.latencies, 90)),
		fineMs(percentile(r.latencies, 99)), fineMs(percentile(r.latencies, 100)),
		float64(n)/r.wall.Seconds(), 100*float64(r.noHit)/float64(max(n, 1)))
}

func (r engineResult) report(out io.Writer) {
	fmt.Fprintf(out, "engine, one core (GOMAXPROCS 1, one goroutine), %d queries each after %d to warm up:\n",
		len(r.plain.latencies), min(len(r.plain.latencies), engineWarmUp))
	fmt.Fprintf(out, "  build: index of %d coops and %d services in %s (baseline %s)\n",
		r.docs, r.services, ms(r.build), ms(r.baselineBuild))
	fmt.Fprintf(out, "  index memory: Stats().Bytes %.1f MB (%d docs, %d terms); live heap grew %.1f MB\n",
		mb(r.stats.Bytes), r.stats.Docs, r.stats.Terms, mb(r.heapGrowth))
	fmt.Fprintf(out, "  index:             %s   (target p50 < 0.2 ms, p99 < 1 ms, >= 5000/s)\n", r.plain)
	fmt.Fprintf(out, "  index with facets: %s   (target p50 < 0.5 ms)\n", r.facets)
	fmt.Fprintf(out, "  baseline:          %s\n", r.base)
}

// fineMs formats d in milliseconds to the microsecond.
func fineMs(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

// mb converts bytes to MB (MiB, as /proc's kB are KiB).
func mb(b int64) float64 { return float64(b) / (1 << 20) }
