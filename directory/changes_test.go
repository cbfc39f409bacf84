package directory_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestChangeHooks(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, c, _ := setUp(t, d)
		var got []directory.ChangeKind
		fail := false
		s.OnChange(func(ctx context.Context, tx *sql.Tx, ch directory.Change) error {
			if fail {
				return errors.New("hook refused")
			}
			got = append(got, ch.Kind)
			if ch.Coop.Slug != "alpha" {
				t.Errorf("%s: coop %q", ch.Kind, ch.Coop.Slug)
			}
			return nil
		})
		c.City = "Berlin"
		if _, err := s.UpdateCoop(ctx, c); err != nil {
			t.Fatal(err)
		}
		svc, err := s.CreateService(ctx, c.ID, directory.Service{Title: "Hosting", Category: "hosting", Pricing: "fixed", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		svc.Title = "Green hosting"
		if _, err := s.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteService(ctx, c.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		want := []directory.ChangeKind{directory.CoopUpdated, directory.ServiceCreated, directory.ServiceUpdated, directory.ServiceDeleted}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("hooks saw %v, want %v", got, want)
		}

		// A failing hook rolls the change back.
		fail = true
		c.City = "Hamburg"
		if _, err := s.UpdateCoop(ctx, c); err == nil {
			t.Fatal("update succeeded although the hook failed")
		}
		if _, err := s.CreateService(ctx, c.ID, directory.Service{Title: "X", Category: "other", Pricing: "fixed"}); err == nil {
			t.Fatal("create succeeded although the hook failed")
		}
		after, _ := s.CoopBySlug(ctx, "alpha")
		list, _ := s.ListServices(ctx, c.ID, true)
		if after.City != "Berlin" || len(list) != 0 {
			t.Fatalf("failed changes were kept: city %q, %d services", after.City, len(list))
		}
	})
}
