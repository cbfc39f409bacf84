package directory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestListRemoteCoops(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, _ := setUp(t, d)
		if got, err := s.ListRemoteCoops(ctx, false); err != nil || len(got) != 0 {
			t.Fatalf("before any peer: %v, %v", got, err)
		}
		beta := remoteBeta()
		betaID, err := s.UpsertRemoteCoop(ctx, nil, beta)
		if err != nil {
			t.Fatal(err)
		}
		hidden := remoteBeta()
		hidden.ActorID, hidden.Slug, hidden.Name, hidden.Discoverable = "https://gamma.example/coops/gamma", "gamma", "Gamma Growers", false
		hiddenID, err := s.UpsertRemoteCoop(ctx, nil, hidden)
		if err != nil {
			t.Fatal(err)
		}
		first := remoteBeta()
		first.ActorID, first.Slug, first.Name = "https://delta.example/coops/delta", "delta", "Alpha Assemblers"
		firstID, err := s.UpsertRemoteCoop(ctx, nil, first)
		if err != nil {
			t.Fatal(err)
		}

		all, err := s.ListRemoteCoops(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if ids := coopIDs(all); len(ids) != 3 || ids[0] != firstID || ids[1] != betaID || ids[2] != hiddenID {
			t.Fatalf("all remote coops: %v, want [%d %d %d] (by name, the local coop left out)", ids, firstID, betaID, hiddenID)
		}
		for _, k := range all {
			if !k.Remote() || k.FetchedAt.IsZero() || k.ActorID == "" {
				t.Errorf("coop %s: %+v", k.Slug, k)
			}
		}
		if all[1].Domain != "beta.example" || all[1].URL != beta.URL || all[1].Name != "Beta Builders" {
			t.Errorf("beta read as %+v", all[1])
		}

		listed, err := s.ListRemoteCoops(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if ids := coopIDs(listed); len(ids) != 2 || ids[0] != firstID || ids[1] != betaID {
			t.Fatalf("discoverable remote coops: %v, want [%d %d]", ids, firstID, betaID)
		}
	})
}

func TestRemoteCoopByID(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, local, _ := setUp(t, d)
		id, err := s.UpsertRemoteCoop(ctx, nil, remoteBeta())
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.RemoteCoopByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.Domain != "beta.example" || got.Slug != "beta" || got.ActorID != "https://beta.example/coops/beta" ||
			got.Summary != "We **build**.\n\nSecond paragraph." || got.FetchedAt.IsZero() || !got.Discoverable {
			t.Fatalf("read %+v", got)
		}
		for name, missing := range map[string]int64{"local coop": local.ID, "unknown id": id + 1000, "zero": 0, "negative": -1} {
			if _, err := s.RemoteCoopByID(ctx, missing); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
	})
}

func coopIDs(coops []directory.KnownCoop) []int64 {
	out := make([]int64, len(coops))
	for i, c := range coops {
		out[i] = c.ID
	}
	return out
}
