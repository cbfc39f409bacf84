package directory_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/internal/validate"
)

// The store conformance suite: every test runs on SQLite and on PostgreSQL.

const password = "correct horse battery"

func setUp(t *testing.T, d *db.DB) (*directory.Store, directory.Coop, directory.Member) {
	t.Helper()
	s := directory.NewStore(d, bcrypt.MinCost)
	c, m, err := s.Setup(context.Background(), directory.SetupInput{
		CoopName: "Alpha Tech", Slug: "alpha", AdminName: "Ada", AdminEmail: "Ada@Alpha.example", Password: password,
	}, "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	return s, c, m
}

func fieldErrors(t *testing.T, err error) validate.Errors {
	t.Helper()
	var ve *validate.Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a validation error", err)
	}
	return ve.Fields
}

func TestSetup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := directory.NewStore(d, bcrypt.MinCost)
		if ok, _ := s.IsSetUp(ctx); ok {
			t.Fatal("fresh node reports set up")
		}
		_, _, err := s.Setup(ctx, directory.SetupInput{CoopName: "", Slug: "Bad Slug", AdminEmail: "x", Password: "short"}, "http://x")
		fe := fieldErrors(t, err)
		for _, f := range []string{"coop_name", "slug", "email", "password"} {
			if fe[f] == "" {
				t.Errorf("no error for %s in %v", f, fe)
			}
		}
		if n, _ := s.CountCoops(ctx); n != 0 {
			t.Fatalf("failed setup left %d coops", n)
		}

		// Two setups at once: exactly one wins.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, slug := range []string{"alpha", "beta"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = s.Setup(ctx, directory.SetupInput{CoopName: "C " + slug, Slug: slug,
					AdminEmail: slug + "@x.example", Password: password}, "http://localhost:8080")
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, directory.ErrAlreadySetUp):
				t.Fatalf("unexpected error %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d setups succeeded, want 1", won)
		}
		if n, _ := s.CountCoops(ctx); n != 1 {
			t.Fatalf("%d coops after setup, want 1", n)
		}
		if u, ok, _ := d.Setting(ctx, directory.SettingBaseURL); !ok || u != "http://localhost:8080" {
			t.Fatalf("base url setting = %q, %v", u, ok)
		}
	})
}

func TestCoopProfile(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, c, _ := setUp(t, d)
		c.Summary = "We build **CiviCRM** sites."
		c.Website = "https://alpha.example"
		c.City, c.Region, c.Country = "Montréal", "QC", "ca"
		c.RegionsServed = []string{"Québec", "Ontario", "québec"}
		c.RemoteFriendly = true
		c.Languages = []string{"FR", "en"}
		c.YearFounded = 2011
		c.LegalForm = "worker-coop"
		c.WorkerOwners, c.Workers = 7, 9
		c.Networks = []string{"CoTech", "USFWC"}
		c.ContactEmail = "Hello@Alpha.example"
		c.Capacity = directory.CapacityLimited
		c.Skills = []string{"CiviCRM", "Drupal", "accessibility"}
		got, err := s.UpdateCoop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := c
		want.Country = "CA"
		want.RegionsServed = []string{"Québec", "Ontario"}
		want.Languages = []string{"fr", "en"}
		want.ContactEmail = "hello@alpha.example"
		want.UpdatedAt = got.UpdatedAt
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("saved profile:\n got %+v\nwant %+v", got, want)
		}
		again, err := s.CoopBySlug(ctx, "alpha")
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("read back: %+v, %v", again, err)
		}

		// Bad input changes nothing.
		bad := got
		bad.Name, bad.Country, bad.Website, bad.Capacity, bad.YearFounded = "", "Canada", "ftp://x", "busy", 1500
		fe := fieldErrors(t, func() error { _, err := s.UpdateCoop(ctx, bad); return err }())
		for _, f := range []string{"name", "country", "website", "capacity", "year_founded"} {
			if fe[f] == "" {
				t.Errorf("no error for %s in %v", f, fe)
			}
		}
		after, _ := s.CoopBySlug(ctx, "alpha")
		if !reflect.DeepEqual(after, got) {
			t.Fatal("a rejected update changed the profile")
		}

		if _, err := s.UpdateCoop(ctx, directory.Coop{Slug: "nobody", Name: "X"}); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("update of unknown coop: %v", err)
		}
		if _, err := s.CreateCoop(ctx, directory.Coop{Slug: "alpha", Name: "Other"}); !errors.Is(err, directory.ErrConflict) {
			t.Fatalf("duplicate slug: %v", err)
		}
		if _, err := s.CoopBySlug(ctx, "nobody"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("unknown slug: %v", err)
		}
	})
}

func TestServices(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, c, _ := setUp(t, d)
		lo, hi := int64(50), int64(90)
		svc, err := s.CreateService(ctx, c.ID, directory.Service{
			Title: " CiviCRM migration ", Description: "From spreadsheets.", Category: "data-crm",
			Tags: []string{"CiviCRM", "civicrm", "migration"}, Pricing: "sliding-scale", PriceMin: &lo, PriceMax: &hi,
			Currency: "cad", Active: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if svc.ID == 0 || svc.Title != "CiviCRM migration" || svc.Currency != "CAD" || len(svc.Tags) != 2 {
			t.Fatalf("created %+v", svc)
		}
		hidden, err := s.CreateService(ctx, c.ID, directory.Service{Title: "Old hosting", Category: "hosting", Pricing: "fixed"})
		if err != nil {
			t.Fatal(err)
		}
		active, _ := s.ListServices(ctx, c.ID, false)
		all, _ := s.ListServices(ctx, c.ID, true)
		if len(active) != 1 || active[0].ID != svc.ID || len(all) != 2 {
			t.Fatalf("active %d, all %d", len(active), len(all))
		}
		got, err := s.Service(ctx, c.ID, svc.ID)
		if err != nil || *got.PriceMin != 50 || *got.PriceMax != 90 || !got.Active {
			t.Fatalf("read %+v, %v", got, err)
		}

		hidden.Active, hidden.PriceMin = true, nil
		if _, err := s.UpdateService(ctx, hidden); err != nil {
			t.Fatal(err)
		}
		bad := got
		bad.Title, bad.Category, bad.Pricing = "", "cooking", "free"
		bad.PriceMin, bad.PriceMax = &hi, &lo
		fe := fieldErrors(t, func() error { _, err := s.UpdateService(ctx, bad); return err }())
		for _, f := range []string{"title", "category", "pricing", "price_max"} {
			if fe[f] == "" {
				t.Errorf("no error for %s in %v", f, fe)
			}
		}
		if again, _ := s.Service(ctx, c.ID, svc.ID); !reflect.DeepEqual(again, got) {
			t.Fatal("a rejected update changed the service")
		}
		if _, err := s.Service(ctx, c.ID+1, svc.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("service of another coop: %v", err)
		}
		if err := s.DeleteService(ctx, c.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteService(ctx, c.ID, svc.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := s.CreateService(ctx, 999999, directory.Service{Title: "x", Category: "other", Pricing: "fixed"}); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("service for unknown coop: %v", err)
		}
	})
}

func TestLogo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, c, _ := setUp(t, d)
		if _, err := s.Logo(ctx, c.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("no logo yet: %v", err)
		}
		data := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 255}
		if err := s.SetLogo(ctx, c.ID, "image/png", data); err != nil {
			t.Fatal(err)
		}
		if err := s.SetLogo(ctx, c.ID, "image/png", append(data, 7)); err != nil {
			t.Fatal(err)
		}
		l, err := s.Logo(ctx, c.ID)
		if err != nil || l.ContentType != "image/png" || len(l.Data) != len(data)+1 || l.Data[7] != 255 {
			t.Fatalf("logo %+v, %v", l, err)
		}
		if got, _ := s.CoopByID(ctx, c.ID); !got.HasLogo {
			t.Fatal("HasLogo false after upload")
		}
		if err := s.DeleteLogo(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.CoopByID(ctx, c.ID); got.HasLogo {
			t.Fatal("HasLogo true after delete")
		}
	})
}

func TestMembersAndSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, c, admin := setUp(t, d)
		if admin.Email != "ada@alpha.example" || !admin.IsAdmin() {
			t.Fatalf("admin %+v", admin)
		}
		if _, err := s.Authenticate(ctx, "ADA@alpha.example", password); err != nil {
			t.Fatalf("login: %v", err)
		}
		for _, tc := range []struct{ email, pw string }{{"ada@alpha.example", "wrong password"}, {"nobody@x.example", password}} {
			if _, err := s.Authenticate(ctx, tc.email, tc.pw); !errors.Is(err, directory.ErrBadCredentials) {
				t.Errorf("%s/%s: %v", tc.email, tc.pw, err)
			}
		}

		secret, err := s.CreateSession(ctx, admin.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.SessionMember(ctx, secret); err != nil || m.ID != admin.ID {
			t.Fatalf("session member %+v, %v", m, err)
		}
		expired, _ := s.CreateSession(ctx, admin.ID, -time.Minute)
		if _, err := s.SessionMember(ctx, expired); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("expired session: %v", err)
		}
		if err := s.DeleteSession(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionMember(ctx, secret); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("session after logout: %v", err)
		}

		// Invitation: used once, then gone.
		if _, err := s.Invite(ctx, c.ID, admin.ID, "ada@alpha.example", directory.RoleMember); err == nil {
			t.Fatal("invited an existing member")
		}
		inv, err := s.Invite(ctx, c.ID, admin.ID, "Bo@Alpha.example", directory.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := s.PendingInvitations(ctx, c.ID); len(p) != 1 || p[0].Email != "bo@alpha.example" {
			t.Fatalf("pending %+v", p)
		}
		if _, err := s.AcceptInvitation(ctx, inv, "Bo", "short"); fieldErrors(t, err)["password"] == "" {
			t.Fatal("short password accepted")
		}
		bo, err := s.AcceptInvitation(ctx, inv, "Bo", password)
		if err != nil || bo.Role != directory.RoleMember || bo.CoopID != c.ID {
			t.Fatalf("accept: %+v, %v", bo, err)
		}
		if _, err := s.AcceptInvitation(ctx, inv, "Eve", password); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("second use of invitation: %v", err)
		}
		if ms, _ := s.ListMembers(ctx, c.ID); len(ms) != 2 {
			t.Fatalf("%d members", len(ms))
		}

		if err := s.RemoveMember(ctx, c.ID, admin.ID); !errors.Is(err, directory.ErrLastAdmin) {
			t.Fatalf("removing last admin: %v", err)
		}
		boSession, _ := s.CreateSession(ctx, bo.ID, time.Hour)
		if err := s.RemoveMember(ctx, c.ID, bo.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionMember(ctx, boSession); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("removed member's session still valid: %v", err)
		}
	})
}

func TestTokens(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, _, admin := setUp(t, d)
		if _, _, err := s.CreateToken(ctx, admin.ID, " "); err == nil {
			t.Fatal("token without a name")
		}
		tok, secret, err := s.CreateToken(ctx, admin.ID, "deploy script")
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.TokenMember(ctx, secret)
		if err != nil || m.ID != admin.ID {
			t.Fatalf("token member %+v, %v", m, err)
		}
		list, _ := s.ListTokens(ctx, admin.ID)
		if len(list) != 1 || list[0].LastUsedAt == nil {
			t.Fatalf("tokens %+v", list)
		}
		for _, bad := range []string{"", "coopnet_nope", secret + "x"} {
			if _, err := s.TokenMember(ctx, bad); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("token %q: %v", bad, err)
			}
		}
		if err := s.RevokeToken(ctx, admin.ID+1, tok.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("revoking someone else's token: %v", err)
		}
		if err := s.RevokeToken(ctx, admin.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TokenMember(ctx, secret); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("revoked token: %v", err)
		}
	})
}
