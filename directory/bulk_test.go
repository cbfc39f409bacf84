package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestBulkLoadRemote(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := NewStore(d, bcrypt.MinCost)
		var coops []RemoteCoop
		var services [][]RemoteService
		for i := range 3 {
			host := fmt.Sprintf("peer%d.example", i)
			coops = append(coops, testRemoteCoop(host, "c"))
			var svcs []RemoteService
			for j := range i + 1 {
				svcs = append(svcs, testRemoteService(host, "c", fmt.Sprint(j)))
			}
			services = append(services, svcs)
		}
		coops[0].Summary = "bad\x00text"

		bad := slices.Clone(services)
		bad[1] = []RemoteService{testRemoteService("elsewhere.example", "c", "1")}
		if err := s.BulkLoadRemote(ctx, coops, bad); !errors.Is(err, ErrInvalidRemote) {
			t.Fatalf("service on another host: got %v", err)
		}
		if err := s.BulkLoadRemote(ctx, coops, services); err != nil {
			t.Fatal(err)
		}
		if err := s.BulkLoadRemote(ctx, coops[:1], nil); !errors.Is(err, ErrConflict) {
			t.Fatalf("loaded twice: got %v", err)
		}
		var ids []int64
		for i, rc := range coops {
			k, err := s.RemoteCoopByActor(ctx, rc.ActorID)
			if err != nil {
				t.Fatal(err)
			}
			if k.Domain != fmt.Sprintf("peer%d.example", i) || k.Name != "Coop c" || k.FetchedAt.IsZero() {
				t.Errorf("coop %d stored as %+v", i, k)
			}
			if i == 0 && k.Summary != "badtext" {
				t.Errorf("summary not cleaned: %q", k.Summary)
			}
			svcs, err := s.ListRemoteServices(ctx, k.ID)
			if err != nil || len(svcs) != i+1 {
				t.Fatalf("coop %d has %d services, %v", i, len(svcs), err)
			}
			ids = append(ids, k.ID)
		}
		if got := feedChanges(t, d, 0); !slices.Equal(got, ids) {
			t.Fatalf("changes %v, want %v", got, ids)
		}
	})
}
