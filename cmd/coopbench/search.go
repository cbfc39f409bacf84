package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/coopnet/coopnet/directory/search/searchtest"
)

// The search benchmark, in three phases over one generated network of coops
// (directory/search/searchtest, seeded):
//
//  1. the search engine alone, in this process, on one core: build time,
//     index memory, and query latency beside search.Baseline's;
//  2. a real `coopnet serve` whose database was bulk-loaded with the
//     network: time until the index is built and /readyz answers, and RSS;
//  3. concurrent clients on the JSON API (/api/v1/search): a closed loop for
//     the most it serves, an open loop at a fixed rate for the latency at
//     that load (search_http.go); then profile changes written through
//     directory.Store from this process, timed until the API finds them.

// searchConfig holds the search benchmark's flags.
type searchConfig struct {
	coops, servicesPerCoop int
	queries, clients       int
	changes                int
	duration               time.Duration
	rate                   float64
	facets                 bool
	databaseURL            string
	seed                   int64
	src, binary            string
}

// coopsPerPeer is how many generated coops share one made-up peer host.
const coopsPerPeer = 100

func runSearch(ctx context.Context, args []string, out io.Writer) error {
	var cfg searchConfig
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.IntVar(&cfg.coops, "coops", 10000, "coops in the generated network")
	fs.IntVar(&cfg.servicesPerCoop, "services-per-coop", 10, "services of each coop")
	fs.IntVar(&cfg.queries, "queries", 20000, "queries timed in each engine run, after up to 2,000 of them untimed to warm up")
	fs.IntVar(&cfg.clients, "clients", 64, "concurrent HTTP clients on the search API")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each HTTP run (closed loop, open loop)")
	fs.Float64Var(&cfg.rate, "rate", 3000, "searches a second, in all, that the clients send in the open-loop run; 0 skips it")
	fs.BoolVar(&cfg.facets, "facets", false, "ask the API for facet counts too (facets=true)")
	fs.IntVar(&cfg.changes, "changes", 10, "profile changes timed until the API finds them")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) to run on, in a schema of its own; empty means SQLite in a temporary folder")
	fs.Int64Var(&cfg.seed, "seed", 1, "seed of the generated coops and queries")
	fs.StringVar(&cfg.src, "src", ".", "the coopnet module's folder, where ./cmd/coopnet is built")
	fs.StringVar(&cfg.binary, "binary", "", "run this coopnet binary instead of building one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case cfg.coops < 1 || cfg.coops > 200_000:
		return usageErrorf("--coops must be 1 to 200000")
	case cfg.servicesPerCoop < 0 || cfg.servicesPerCoop > 100:
		return usageErrorf("--services-per-coop must be 0 to 100")
	case cfg.queries < 1 || cfg.queries > 1_000_000:
		return usageErrorf("--queries must be 1 to 1000000")
	case cfg.clients < 1 || cfg.clients > 1024:
		return usageErrorf("--clients must be 1 to 1024")
	case cfg.duration < time.Second || cfg.duration > 10*time.Minute:
		return usageErrorf("--duration must be 1s to 10m")
	case cfg.rate < 0 || cfg.rate > 100_000:
		return usageErrorf("--rate must be 0 to 100000")
	case cfg.changes < 0 || cfg.changes > 100:
		return usageErrorf("--changes must be 0 to 100")
	}
	return benchSearch(ctx, cfg, out)
}

// benchSearch runs the three phases and reports each as it ends.
func benchSearch(ctx context.Context, cfg searchConfig, out io.Writer) (err error) {
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	began := time.Now()
	docs := searchtest.Generate(cfg.seed, cfg.coops, cfg.servicesPerCoop)
	queries := searchtest.Queries(cfg.seed, cfg.queries)
	fmt.Fprintf(out, "search: %d coops with %d services each (seed %d) generated in %s; %d queries\n",
		cfg.coops, cfg.servicesPerCoop, cfg.seed, ms(time.Since(began)), len(queries))

	engine, err := benchEngine(docs, queries)
	if err != nil {
		return err
	}
	engine.report(out)

	storage, p, err := newServeProc(ctx, cfg.databaseURL, cfg.binary, cfg.src)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, storage.Close()) }()
	network, err := loadNetwork(ctx, p, docs, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, network.Close()) }()

	node, err := startSearchNode(ctx, p, out)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, node.stop()) }()
	facets := ""
	if cfg.facets {
		facets = " with facets=true"
	}
	fmt.Fprintf(out, "search over HTTP: %s database, %d clients, %s a run, on GET %s/api/v1/search%s\n",
		storage.dialect(), cfg.clients, cfg.duration, p.baseURL(), facets)
	loads, err := loadSearchAPI(ctx, p.addr, queries, cfg, node.pid())
	if err != nil {
		return fmt.Errorf("%w\n%s", err, p.logTail())
	}
	for _, load := range loads {
		load.report(out, cfg.clients)
	}
	for _, load := range loads {
		if load.failed > 0 {
			return fmt.Errorf("%d searches failed, the first: %s", load.failed, load.firstErr)
		}
	}
	if err := node.reportMemory(out, "after the HTTP run"); err != nil {
		return err
	}
	if err := timeChanges(ctx, network, p.baseURL(), cfg.changes, out); err != nil {
		return fmt.Errorf("%w\n%s", err, p.logTail())
	}
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
	return nil
}
