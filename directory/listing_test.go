package directory_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/migrations"
)

// Conformance tests of the searchable Directory, on both databases.

// hitIDs runs a search for text and returns the ids of the coops found.
func hitIDs(t *testing.T, dir *directory.Directory, text string) []int64 {
	t.Helper()
	res, err := dir.Search(search.Query{Text: text, Limit: 100})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	ids := []int64{}
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

func syncDir(t *testing.T, dir *directory.Directory) {
	t.Helper()
	if err := dir.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func hit(t *testing.T, dir *directory.Directory, text string, id int64) directory.SearchHit {
	t.Helper()
	res, err := dir.Search(search.Query{Text: text, Limit: 100})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	for _, h := range res.Hits {
		if h.ID == id {
			return h
		}
	}
	t.Fatalf("search %q: coop %d not found in %d hits", text, id, len(res.Hits))
	return directory.SearchHit{}
}

func remoteWombat() directory.RemoteCoop {
	return directory.RemoteCoop{
		ActorID: "https://wombat.example/coops/wombat",
		URL:     "https://wombat.example/coops/wombat",
		Coop: directory.Coop{Slug: "wombat", Name: "Wombat Builders", Summary: "Carpentry for **nonprofits**.",
			Country: "AU", Languages: []string{"en"}, Discoverable: true},
	}
}

func wombatService(id, title string) directory.RemoteService {
	return directory.RemoteService{
		ObjectID: "https://wombat.example/coops/wombat/services/" + id,
		URL:      "https://wombat.example/coops/wombat/services/" + id,
		Service:  directory.Service{Title: title, Category: "design", Pricing: "fixed", Tags: []string{"timber"}, Active: true},
	}
}

// TestDirectoryFollowsChanges checks that local and remote changes become
// searchable after a Sync, and that deletes leave the index.
func TestDirectoryFollowsChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, local, _ := setUp(t, d)
		dir := directory.NewDirectory(s)
		if err := dir.Build(ctx); err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(t, dir, "alpha"); !slices.Equal(got, []int64{local.ID}) {
			t.Fatalf("built: alpha finds %v", got)
		}

		// A local profile and service change.
		local.Summary = "We make **websites** for food banks. " + strings.Repeat("And more words. ", 40)
		if _, err := s.UpdateCoop(ctx, local); err != nil {
			t.Fatal(err)
		}
		svc, err := s.CreateService(ctx, local.ID, directory.Service{Title: "Quokka hosting", Category: "hosting",
			Pricing: "hourly", Tags: []string{"drupal"}, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := hitIDs(t, dir, "quokka"); len(got) != 0 {
			t.Fatalf("found %v before Sync", got)
		}
		syncDir(t, dir)
		h := hit(t, dir, "quokka", local.ID)
		if !h.Local() || h.Slug != "alpha" || len(h.Services) != 1 || h.Services[0].Title != "Quokka hosting" {
			t.Fatalf("listing %+v", h.Listing)
		}
		if !strings.HasPrefix(h.Summary, "We make websites for food banks.") || strings.Contains(h.Summary, "*") ||
			utf8.RuneCountInString(h.Summary) > 301 || !strings.HasSuffix(h.Summary, "…") {
			t.Fatalf("summary %q", h.Summary)
		}
		hit(t, dir, "banks", local.ID)

		// An inactive service is not shown; a deleted one is gone.
		svc.Title, svc.Active = "Numbat hosting", false
		if _, err := s.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if got := hitIDs(t, dir, "numbat"); len(got) != 0 {
			t.Fatalf("inactive service found in %v", got)
		}
		if err := s.DeleteService(ctx, local.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if got := hitIDs(t, dir, "quokka"); len(got) != 0 {
			t.Fatalf("deleted service found in %v", got)
		}

		// A peer's coop and service.
		id, err := s.UpsertRemoteCoop(ctx, nil, remoteWombat())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpsertRemoteService(ctx, nil, id, wombatService("1", "Joinery workshops")); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		h = hit(t, dir, "joinery", id)
		if h.Local() || h.Domain != "wombat.example" || h.URL != "https://wombat.example/coops/wombat" ||
			h.ActorID == "" || len(h.Services) != 1 || h.Services[0].URL == "" || h.Summary != "Carpentry for nonprofits." {
			t.Fatalf("remote listing %+v", h.Listing)
		}
		if _, err := s.DeleteRemoteService(ctx, nil, id, "https://wombat.example/coops/wombat/services/1"); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if got := hitIDs(t, dir, "joinery"); len(got) != 0 {
			t.Fatalf("deleted remote service found in %v", got)
		}
		hit(t, dir, "wombat", id)
		if _, err := s.DeleteRemoteCoop(ctx, nil, remoteWombat().ActorID); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if got := hitIDs(t, dir, "wombat"); len(got) != 0 {
			t.Fatalf("deleted remote coop found in %v", got)
		}
		if n := len(dir.Listings()); n != 1 || dir.Stats().Docs != 1 {
			t.Fatalf("%d listings, %d docs; want 1", n, dir.Stats().Docs)
		}
	})
}

// TestDirectoryConsent checks that a coop that is not discoverable is never
// listed nor found, hosted here or on a peer, and is once it opts in.
func TestDirectoryConsent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, local, _ := setUp(t, d)
		local.Discoverable = false
		if _, err := s.UpdateCoop(ctx, local); err != nil {
			t.Fatal(err)
		}
		w := remoteWombat()
		w.Discoverable = false
		id, err := s.UpsertRemoteCoop(ctx, nil, w)
		if err != nil {
			t.Fatal(err)
		}
		dir := directory.NewDirectory(s)
		if err := dir.Build(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(when string, want []int64) {
			t.Helper()
			var listed []int64
			for _, l := range dir.Listings() {
				listed = append(listed, l.ID)
			}
			slices.Sort(listed)
			found := append(hitIDs(t, dir, "alpha"), hitIDs(t, dir, "wombat")...)
			slices.Sort(found)
			if !slices.Equal(listed, want) || !slices.Equal(found, want) {
				t.Fatalf("%s: listed %v, found %v; want %v", when, listed, found, want)
			}
		}
		check("built", nil)
		w.Discoverable = true
		if _, err := s.UpsertRemoteCoop(ctx, nil, w); err != nil {
			t.Fatal(err)
		}
		local.Discoverable = true
		if _, err := s.UpdateCoop(ctx, local); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		check("opted in", []int64{local.ID, id})
		local.Discoverable = false
		if _, err := s.UpdateCoop(ctx, local); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		check("opted out", []int64{id})
	})
}

// TestDirectoryStale checks that a peer's coop unreachable for longer than
// StaleAfter is marked stale, and no longer once it answers.
func TestDirectoryStale(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, _ := setUp(t, d)
		id, err := s.UpsertRemoteCoop(ctx, nil, remoteWombat())
		if err != nil {
			t.Fatal(err)
		}
		dir := directory.NewDirectory(s)
		syncDir(t, dir) // builds
		if dir.StaleAfter != directory.StaleAfter {
			t.Fatalf("StaleAfter %v", dir.StaleAfter)
		}
		recent := time.Now().Add(-time.Hour)
		if err := s.SetUnreachable(ctx, id, &recent); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if h := hit(t, dir, "wombat", id); h.Stale || h.UnreachableSince == nil {
			t.Fatalf("an hour unreachable: stale %v since %v", h.Stale, h.UnreachableSince)
		}
		if err := s.SetUnreachable(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-directory.StaleAfter - time.Hour)
		if err := s.SetUnreachable(ctx, id, &old); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if h := hit(t, dir, "wombat", id); !h.Stale {
			t.Fatalf("unreachable since %v: not stale", h.UnreachableSince)
		}
		if l := dir.Listings(); len(l) != 2 || !l[1].Stale {
			t.Fatalf("listings %+v", l)
		}
		// Staleness is judged when shown: it needs no change to appear.
		dir.StaleAfter = 30 * time.Minute
		if err := s.SetUnreachable(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SetUnreachable(ctx, id, &recent); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if h := hit(t, dir, "wombat", id); !h.Stale {
			t.Fatal("not stale after StaleAfter was shortened")
		}
		if _, err := s.UpsertRemoteCoop(ctx, nil, remoteWombat()); err != nil {
			t.Fatal(err)
		}
		syncDir(t, dir)
		if h := hit(t, dir, "wombat", id); h.Stale || h.UnreachableSince != nil {
			t.Fatal("still stale after a fresh profile")
		}
	})
}

// TestDirectoryListings checks the export order: by name, case-folded.
func TestDirectoryListings(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, _ := setUp(t, d) // "Alpha Tech"
		for _, c := range []directory.Coop{{Slug: "zeta", Name: "zeta"}, {Slug: "beta", Name: "Beta"}, {Slug: "gamma", Name: "alpha two"}} {
			c.Discoverable = true
			if _, err := s.CreateCoop(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		dir := directory.NewDirectory(s)
		if n := len(dir.Listings()); n != 0 {
			t.Fatalf("%d listings before Build", n)
		}
		if res, err := dir.Search(search.Query{Text: "alpha"}); err != nil || res.Total != 0 {
			t.Fatalf("search before Build: %+v, %v", res, err)
		}
		if err := dir.Build(ctx); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range dir.Listings() {
			names = append(names, l.Name)
		}
		if want := []string{"Alpha Tech", "alpha two", "Beta", "zeta"}; !slices.Equal(names, want) {
			t.Fatalf("listings %v, want %v", names, want)
		}
	})
}

// TestDirectoryStartWakes checks that a running directory picks a change
// made through its own store up without a Sync from outside.
func TestDirectoryStartWakes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, local, _ := setUp(t, d)
		dir := directory.NewDirectory(s)
		if err := dir.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateService(ctx, local.ID, directory.Service{Title: "Axolotl audits", Category: "security",
			Pricing: "fixed", Active: true}); err != nil {
			t.Fatal(err)
		}
		awaitFound(t, dir, "axolotl", local.ID)
	})
}

// awaitFound polls dir until text finds id, and fails after a deadline well
// above the Directory's timer.
func awaitFound(t *testing.T, dir *directory.Directory, text string, id int64) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if slices.Contains(hitIDs(t, dir, text), id) {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%q did not find coop %d within %v", text, id, time.Since(start))
	return 0
}

// TestDirectoryTwoProcesses runs two stores and directories over separate
// connections to one PostgreSQL schema, as two `coopnet serve` processes
// would: a change written through one is found on the other, through the
// change feed alone.
func TestDirectoryTwoProcesses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := testdb.PostgresURL(t)
	u := testdb.WithSchema(t, base, testdb.NewSchema(t, base))
	open := func() *directory.Store {
		d, err := db.Open(ctx, u, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if _, err := migrations.Apply(ctx, d); err != nil {
			t.Fatal(err)
		}
		return directory.NewStore(d, bcrypt.MinCost)
	}
	s1, s2 := open(), open()
	dir1, dir2 := directory.NewDirectory(s1), directory.NewDirectory(s2)
	for _, dir := range []*directory.Directory{dir1, dir2} {
		if err := dir.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	id, err := s1.UpsertRemoteCoop(ctx, nil, remoteWombat())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("found on the other process after %v", awaitFound(t, dir2, "wombat", id))
	c, err := s2.CreateCoop(ctx, directory.Coop{Slug: "okapi", Name: "Okapi Data", Discoverable: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("found on the other process after %v", awaitFound(t, dir1, "okapi", c.ID))
}

// TestDirectoryGapPostgres checks that a change whose transaction took its
// seq first but committed last is not lost.
func TestDirectoryGapPostgres(t *testing.T) {
	d := testdb.Postgres(t)
	ctx := context.Background()
	s := directory.NewStore(d, bcrypt.MinCost)
	dir := directory.NewDirectory(s)
	if err := dir.Build(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err := d.WriteSQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	slow, err := s.UpsertRemoteCoop(ctx, tx, remoteWombat())
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.CreateCoop(ctx, directory.Coop{Slug: "okapi", Name: "Okapi Data", Discoverable: true})
	if err != nil {
		t.Fatal(err)
	}
	syncDir(t, dir)
	if got := append(hitIDs(t, dir, "okapi"), hitIDs(t, dir, "wombat")...); !slices.Equal(got, []int64{fast.ID}) {
		t.Fatalf("found %v, want [%d]", got, fast.ID)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, dir)
	hit(t, dir, "wombat", slow)
}
