package directory_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// Conformance tests for coops and services learned from peers, on both
// databases.

func remoteBeta() directory.RemoteCoop {
	return directory.RemoteCoop{
		ActorID: "https://beta.example/coops/beta",
		URL:     "https://beta.example/coops/beta",
		IconURL: "https://beta.example/coops/beta/logo?v=1",
		Coop: directory.Coop{
			Slug: "beta", Name: "Beta Builders", Summary: "We **build**.\n\nSecond paragraph.",
			City: "Leipzig", Country: "de", Languages: []string{"de", "EN"}, Skills: []string{"Go", "go", "SQL"},
			Capacity: directory.CapacityLimited, LegalForm: "worker-coop", YearFounded: 2011,
			Website: "https://beta.example", Discoverable: true,
		},
	}
}

func TestRemoteCoopUpsert(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, local, _ := setUp(t, d)
		id, err := s.UpsertRemoteCoop(ctx, nil, remoteBeta())
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RemoteCoopByActor(ctx, "https://beta.example/coops/beta")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.Domain != "beta.example" || got.Slug != "beta" || got.Name != "Beta Builders" ||
			got.Country != "DE" || strings.Join(got.Languages, ",") != "de,en" || strings.Join(got.Skills, ",") != "Go,SQL" ||
			got.Capacity != directory.CapacityLimited || got.IconURL == "" || got.FetchedAt.IsZero() || !got.Remote() {
			t.Fatalf("stored %+v", got)
		}
		if got.Summary != "We **build**.\n\nSecond paragraph." {
			t.Errorf("summary %q", got.Summary)
		}

		// A second upsert updates the same row.
		b := remoteBeta()
		b.Name, b.City = "Beta Builders eG", ""
		id2, err := s.UpsertRemoteCoop(ctx, nil, b)
		if err != nil || id2 != id {
			t.Fatalf("upsert again: id %d, %v", id2, err)
		}
		got, _ = s.RemoteCoopByActor(ctx, b.ActorID)
		if got.Name != "Beta Builders eG" || got.City != "" {
			t.Fatalf("not updated: %+v", got)
		}

		// Remote coops stay out of what the node hosts, and in what it knows.
		if n, _ := s.CountCoops(ctx); n != 1 {
			t.Errorf("CountCoops = %d, want 1", n)
		}
		if _, err := s.CoopBySlug(ctx, "beta"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("CoopBySlug found a remote coop: %v", err)
		}
		known, err := s.ListKnownCoops(ctx)
		if err != nil || len(known) != 2 {
			t.Fatalf("ListKnownCoops: %d, %v", len(known), err)
		}
		for _, k := range known {
			if (k.ID == local.ID) == k.Remote() {
				t.Errorf("coop %s: Remote() = %v", k.Slug, k.Remote())
			}
		}
		if _, err := s.RemoteCoopByActor(ctx, "https://nowhere.example/x"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("unknown actor: %v", err)
		}
	})
}

func TestRemoteCoopHostileInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, _ := setUp(t, d)
		for _, bad := range []string{"", "ftp://x.example/a", "not a url", "https://" + strings.Repeat("a", 3000), "https://user@x.example/a"} {
			c := remoteBeta()
			c.ActorID = bad
			if _, err := s.UpsertRemoteCoop(ctx, nil, c); !errors.Is(err, directory.ErrInvalidRemote) {
				t.Errorf("actor id %.40q: %v, want ErrInvalidRemote", bad, err)
			}
		}
		c := directory.RemoteCoop{ActorID: "https://evil.example/u/x", URL: "javascript:alert(1)", IconURL: "https://evil.example/\nx",
			Coop: directory.Coop{
				Slug: "x/../\x00y", Name: "Evil\x00\x1b[31m " + strings.Repeat("n", 500), Summary: strings.Repeat("s\x00", 9000),
				Country: "Narnia", Languages: []string{"not a language tag at all", "fr"}, YearFounded: 3000,
				LegalForm: "<script>", WorkerOwners: -5, Capacity: "lots", ContactEmail: "no\x00mail", Website: "javascript:x",
				Skills: []string{strings.Repeat("k", 100), "ok"},
			}}
		id, err := s.UpsertRemoteCoop(ctx, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.CoopByID(ctx, id)
		k, _ := s.RemoteCoopByActor(ctx, c.ActorID)
		for field, v := range map[string]string{"slug": got.Slug, "name": got.Name, "summary": got.Summary} {
			if strings.ContainsAny(v, "\x00\x1b/") || !utf8.ValidString(v) {
				t.Errorf("%s kept bad characters: %q", field, v)
			}
		}
		if utf8.RuneCountInString(got.Name) > 100 || utf8.RuneCountInString(got.Summary) > 5000 {
			t.Errorf("lengths not cut: name %d, summary %d", len(got.Name), len(got.Summary))
		}
		if got.Country != "" || strings.Join(got.Languages, ",") != "fr" || got.YearFounded != 0 || got.LegalForm != "" ||
			got.WorkerOwners != 0 || got.Capacity != directory.CapacityOpen || got.ContactEmail != "" || got.Website != "" ||
			k.URL != "" || k.IconURL != "" || strings.Join(got.Skills, ",") != strings.Repeat("k", 40)+",ok" {
			t.Errorf("hostile profile stored as %+v %+v", got, k)
		}
	})
}

func TestRemoteCoopSlugTakenOver(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, _ := setUp(t, d)
		old, err := s.UpsertRemoteCoop(ctx, nil, remoteBeta())
		if err != nil {
			t.Fatal(err)
		}
		// The same handle on the same host, under a new actor id: the
		// account was made again. The new actor takes the handle.
		c := remoteBeta()
		c.ActorID = "https://beta.example/users/beta-2"
		id, err := s.UpsertRemoteCoop(ctx, nil, c)
		if err != nil || id == old {
			t.Fatalf("takeover: id %d (old %d), %v", id, old, err)
		}
		if _, err := s.CoopByID(ctx, old); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("old coop kept: %v", err)
		}
		// The same slug on another host is another coop.
		c.ActorID = "https://gamma.example/coops/beta"
		if _, err := s.UpsertRemoteCoop(ctx, nil, c); err != nil {
			t.Fatal(err)
		}
		if known, _ := s.ListKnownCoops(ctx); len(known) != 3 {
			t.Errorf("%d known coops, want 3", len(known))
		}
	})
}

func TestRemoteServices(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, local, _ := setUp(t, d)
		beta, err := s.UpsertRemoteCoop(ctx, nil, remoteBeta())
		if err != nil {
			t.Fatal(err)
		}
		gamma := remoteBeta()
		gamma.ActorID = "https://gamma.example/coops/gamma"
		gammaID, err := s.UpsertRemoteCoop(ctx, nil, gamma)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := int64(90), int64(50)
		svc := directory.RemoteService{ObjectID: "https://beta.example/coops/beta/services/1", URL: "https://beta.example/coops/beta/services/1",
			Service: directory.Service{Title: " Web sites ", Description: "Fast.", Category: "web-development", Pricing: "hourly",
				Tags: []string{"go", "GO", "sql"}, PriceMin: &lo, PriceMax: &hi, Currency: "eur", Active: true}}
		id, err := s.UpsertRemoteService(ctx, nil, beta, svc)
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.ListRemoteServices(ctx, beta)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListRemoteServices: %v %v", list, err)
		}
		got := list[0]
		if got.ID != id || got.ObjectID != svc.ObjectID || got.Title != "Web sites" || got.Currency != "EUR" ||
			*got.PriceMin != 50 || *got.PriceMax != 90 || strings.Join(got.Tags, ",") != "go,sql" || !got.Active {
			t.Fatalf("stored %+v", got)
		}

		// Updated in place; unknown category and pricing fall back.
		svc.Title, svc.Category, svc.Pricing = "Web apps", "astrology", "barter"
		if id2, err := s.UpsertRemoteService(ctx, nil, beta, svc); err != nil || id2 != id {
			t.Fatalf("update: %d %v", id2, err)
		}
		list, _ = s.ListRemoteServices(ctx, beta)
		if list[0].Title != "Web apps" || list[0].Category != "other" || list[0].Pricing != "" {
			t.Fatalf("updated to %+v", list[0])
		}

		// A peer can neither write a service on another host nor take over
		// another coop's service, nor write into a coop hosted here.
		for name, try := range map[string]func() error{
			"other host": func() error {
				o := svc
				o.ObjectID = "https://gamma.example/coops/beta/services/9"
				_, err := s.UpsertRemoteService(ctx, nil, beta, o)
				return err
			},
			"other coop": func() error { _, err := s.UpsertRemoteService(ctx, nil, gammaID, svc); return err },
			"local coop": func() error {
				o := svc
				o.ObjectID = "http://localhost:8080/coops/alpha/services/7"
				_, err := s.UpsertRemoteService(ctx, nil, local.ID, o)
				return err
			},
		} {
			if err := try(); !errors.Is(err, directory.ErrInvalidRemote) {
				t.Errorf("%s: %v, want ErrInvalidRemote", name, err)
			}
		}
		if _, err := s.UpsertRemoteService(ctx, nil, 999999, svc); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("missing coop: %v", err)
		}

		// Delete only from the owner.
		if ok, err := s.DeleteRemoteService(ctx, nil, gammaID, svc.ObjectID); ok || err != nil {
			t.Errorf("deleted through another coop: %v %v", ok, err)
		}
		if ok, err := s.DeleteRemoteService(ctx, nil, beta, svc.ObjectID); !ok || err != nil {
			t.Errorf("delete: %v %v", ok, err)
		}
		if ok, _ := s.DeleteRemoteService(ctx, nil, beta, svc.ObjectID); ok {
			t.Error("deleted twice")
		}

		// Prune keeps what the collection still lists.
		for _, n := range []string{"1", "2", "3"} {
			o := svc
			o.ObjectID = "https://beta.example/coops/beta/services/" + n
			if _, err := s.UpsertRemoteService(ctx, nil, beta, o); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.PruneRemoteServices(ctx, nil, beta, []string{"https://beta.example/coops/beta/services/2"})
		if err != nil || n != 2 {
			t.Fatalf("prune: %d %v", n, err)
		}
		if list, _ := s.ListRemoteServices(ctx, beta); len(list) != 1 || !strings.HasSuffix(list[0].ObjectID, "/2") {
			t.Fatalf("after prune: %+v", list)
		}

		// Deleting the coop takes its services along.
		if ok, err := s.DeleteRemoteCoop(ctx, nil, "https://beta.example/coops/beta"); !ok || err != nil {
			t.Fatalf("delete coop: %v %v", ok, err)
		}
		if list, _ := s.ListServices(ctx, beta, true); len(list) != 0 {
			t.Errorf("services left: %v", list)
		}
		if ok, _ := s.DeleteRemoteCoop(ctx, nil, "https://beta.example/coops/beta"); ok {
			t.Error("deleted twice")
		}
	})
}
