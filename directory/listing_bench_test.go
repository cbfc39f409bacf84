package directory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// Benchmarks of the Directory over a large network: 10,000 coops with 10
// services each, stored with BulkLoadRemote.
//
//	go test ./directory -run '^$' -bench Directory -benchtime 3x

var benchWords = strings.Fields(`web hosting design data training security strategy drupal wordpress
	civicrm accessibility nonprofit community garden housing food bank legal advice translation video
	printing bookkeeping payroll carpentry repair bicycle energy solar cooperative union school library
	research mapping survey database migration backup email newsletter fundraising campaign`)

// sentence returns n words from the vocabulary.
func sentence(r *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = benchWords[r.IntN(len(benchWords))]
	}
	return strings.Join(w, " ")
}

// benchNetwork returns coops peers' coops spread over 100 hosts, each with
// perCoop services, deterministically.
func benchNetwork(coops, perCoop int) ([]directory.RemoteCoop, [][]directory.RemoteService) {
	r := rand.New(rand.NewPCG(1, 2))
	categories := []string{"web-development", "hosting", "data-crm", "design", "training", "security"}
	countries := []string{"DE", "FR", "GB", "US", "CA", "ES", "IT", "NL"}
	cs := make([]directory.RemoteCoop, coops)
	ss := make([][]directory.RemoteService, coops)
	for i := range cs {
		host := fmt.Sprintf("peer%d.example", i%100)
		actor := fmt.Sprintf("https://%s/coops/c%d", host, i)
		cs[i] = directory.RemoteCoop{ActorID: actor, URL: actor, Coop: directory.Coop{
			Slug: fmt.Sprintf("c%d", i), Name: "Coop " + sentence(r, 2),
			Summary: "We are a **worker cooperative**. " + sentence(r, 40),
			City:    "Town", Country: countries[r.IntN(len(countries))], Languages: []string{"en"},
			Skills: strings.Fields(sentence(r, 5)), Capacity: directory.CapacityOpen, Discoverable: true,
		}}
		ss[i] = make([]directory.RemoteService, perCoop)
		for j := range ss[i] {
			id := fmt.Sprintf("%s/services/%d", actor, j)
			ss[i][j] = directory.RemoteService{ObjectID: id, URL: id, Service: directory.Service{
				Title: strings.ToUpper(sentence(r, 1)[:1]) + sentence(r, 3)[1:], Description: sentence(r, 30),
				Category: categories[r.IntN(len(categories))], Tags: strings.Fields(sentence(r, 3)),
				Pricing: "hourly", Active: true,
			}}
		}
	}
	return cs, ss
}

// loadNetwork fills s with a benchmark network and reports how long the
// load took.
func loadNetwork(tb testing.TB, s *directory.Store, coops, perCoop int) time.Duration {
	tb.Helper()
	cs, ss := benchNetwork(coops, perCoop)
	start := time.Now()
	if err := s.BulkLoadRemote(context.Background(), cs, ss); err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

func benchDatabases(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	for _, open := range []struct {
		name string
		open func(testing.TB) *db.DB
	}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}} {
		b.Run(open.name, func(b *testing.B) { fn(b, open.open(b)) })
	}
}

// BenchmarkDirectoryBuild measures Build over 10,000 coops and 100,000
// services (the bulk load is reported as load-s).
func BenchmarkDirectoryBuild(b *testing.B) {
	benchDatabases(b, func(b *testing.B, d *db.DB) {
		s := directory.NewStore(d, bcrypt.MinCost)
		load := loadNetwork(b, s, 10000, 10)
		dir := directory.NewDirectory(s)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := dir.Build(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(load.Seconds(), "load-s")
		b.ReportMetric(float64(dir.Stats().Bytes)/(1<<20), "index-MiB")
	})
}

// BenchmarkDirectorySync measures a Sync after one coop of the large
// network changed.
func BenchmarkDirectorySync(b *testing.B) {
	benchDatabases(b, func(b *testing.B, d *db.DB) {
		ctx := context.Background()
		s := directory.NewStore(d, bcrypt.MinCost)
		loadNetwork(b, s, 10000, 10)
		dir := directory.NewDirectory(s)
		if err := dir.Build(ctx); err != nil {
			b.Fatal(err)
		}
		k, err := s.RemoteCoopByActor(ctx, "https://peer7.example/coops/c7")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			if err := s.SetUnreachable(ctx, k.ID, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := dir.Sync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
