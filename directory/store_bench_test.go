package directory_test

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// benchEach runs fn as a sub-benchmark on SQLite and PostgreSQL, on a node set
// up with one coop that has 20 services.
func benchEach(b *testing.B, fn func(b *testing.B, s *directory.Store, c directory.Coop, admin directory.Member)) {
	for _, open := range []struct {
		name string
		open func(testing.TB) *db.DB
	}{{"sqlite", testdb.SQLite}, {"postgres", testdb.Postgres}} {
		b.Run(open.name, func(b *testing.B) {
			ctx := context.Background()
			s := directory.NewStore(open.open(b), bcrypt.MinCost)
			c, m, err := s.Setup(ctx, directory.SetupInput{CoopName: "Alpha", Slug: "alpha", AdminEmail: "a@x.example", Password: password}, "http://localhost")
			if err != nil {
				b.Fatal(err)
			}
			for i := range 20 {
				if _, err := s.CreateService(ctx, c.ID, directory.Service{Title: fmt.Sprintf("Service %d", i),
					Category: "web-development", Pricing: "hourly", Tags: []string{"drupal", "civicrm"}, Active: true}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			fn(b, s, c, m)
		})
	}
}

func BenchmarkCoopBySlug(b *testing.B) {
	benchEach(b, func(b *testing.B, s *directory.Store, c directory.Coop, _ directory.Member) {
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.CoopBySlug(ctx, "alpha"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkListServices(b *testing.B) {
	benchEach(b, func(b *testing.B, s *directory.Store, c directory.Coop, _ directory.Member) {
		ctx := context.Background()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if l, err := s.ListServices(ctx, c.ID, false); err != nil || len(l) != 20 {
					b.Fatal(len(l), err)
				}
			}
		})
	})
}

func BenchmarkUpdateCoop(b *testing.B) {
	benchEach(b, func(b *testing.B, s *directory.Store, c directory.Coop, _ directory.Member) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			c.Summary = fmt.Sprintf("Summary %d", i)
			if _, err := s.UpdateCoop(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkTokenMember(b *testing.B) {
	benchEach(b, func(b *testing.B, s *directory.Store, _ directory.Coop, admin directory.Member) {
		ctx := context.Background()
		_, secret, err := s.CreateToken(ctx, admin.ID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.TokenMember(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
