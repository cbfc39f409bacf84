package directory_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

const suggestBase = "http://localhost:8080"

func localActor(slug string) string { return suggestBase + "/coops/" + slug }

// suggestNetwork lists a local coop besides alpha and a few peers' coops,
// each with something (or nothing) in common with a request for a CiviCRM
// database in Spanish, in Spain.
func suggestNetwork(t *testing.T, d *db.DB) *directory.Directory {
	t.Helper()
	ctx := context.Background()
	s, _, _ := setUp(t, d)
	beta, err := s.CreateCoop(ctx, directory.Coop{Slug: "beta", Name: "Beta Data Coop", Capacity: directory.CapacityOpen,
		Languages: []string{"es-MX", "en"}, Discoverable: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateService(ctx, beta.ID, directory.Service{Title: "Donor databases", Category: "data-crm",
		Pricing: "hourly", Tags: []string{"CiviCRM"}, Active: true}); err != nil {
		t.Fatal(err)
	}
	peer := func(slug, name, country string, capacity directory.Capacity, langs []string) directory.RemoteCoop {
		return directory.RemoteCoop{ActorID: "https://" + slug + ".example/coops/" + slug,
			Coop: directory.Coop{Slug: slug, Name: name, Country: country, Capacity: capacity, Languages: langs,
				RemoteFriendly: slug == "wombat", Discoverable: true}}
	}
	service := func(slug, category string) []directory.RemoteService {
		return []directory.RemoteService{{ObjectID: "https://" + slug + ".example/coops/" + slug + "/services/1",
			Service: directory.Service{Title: "Work of " + slug, Category: category, Pricing: "fixed", Active: true}}}
	}
	coops := []directory.RemoteCoop{
		peer("kiwi", "Kiwi Cooperativa", "ES", directory.CapacityLimited, []string{"es"}),
		peer("wombat", "Wombat Builders", "AU", directory.CapacityOpen, []string{"en"}),
		peer("shut", "Shut Coop", "ES", directory.CapacityClosed, []string{"es"}),
		peer("gone", "Gone Coop", "ES", directory.CapacityOpen, []string{"es"}),
		peer("nothing", "Nothing In Common", "FR", directory.CapacityOpen, []string{"fr"}),
	}
	services := [][]directory.RemoteService{service("kiwi", "data-crm"), service("wombat", "design"),
		service("shut", "data-crm"), service("gone", "data-crm"), service("nothing", "hosting")}
	if err := s.BulkLoadRemote(ctx, coops, services); err != nil {
		t.Fatal(err)
	}
	gone, err := s.RemoteCoopByActor(ctx, "https://gone.example/coops/gone")
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-2 * directory.StaleAfter)
	if err := s.SetUnreachable(ctx, gone.ID, &since); err != nil {
		t.Fatal(err)
	}
	dir := directory.NewDirectory(s)
	if err := dir.Build(ctx); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSuggestPeers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		dir := suggestNetwork(t, d)
		civi := directory.SuggestRequest{Categories: []string{"data-crm"}, Skills: []string{"civicrm"}, Country: "es",
			Language: "es", Text: "We need a database for our donors", LocalActor: localActor}
		tests := []struct {
			name    string
			req     directory.SuggestRequest
			exclude []string
			limit   int
			want    []string // slugs, best first
		}{
			{"best match first, closed, stale and unrelated left out", civi,
				[]string{localActor("alpha")}, 10, []string{"beta", "kiwi"}},
			{"the chain and peers offered already are left out", civi,
				[]string{localActor("alpha"), localActor("beta")}, 10, []string{"kiwi"}},
			{"limit", civi, nil, 1, []string{"beta"}},
			{"no local actors: only peers", directory.SuggestRequest{Categories: []string{"data-crm"}}, nil, 10, []string{"kiwi"}},
			{"a category alone", directory.SuggestRequest{Categories: []string{"design"}, Country: "NZ",
				LocalActor: localActor}, nil, 10, []string{"wombat"}},
			{"place and language alone, for a request naming no category", directory.SuggestRequest{Language: "fr-CA",
				LocalActor: localActor}, nil, 10, []string{"nothing"}},
			{"working remotely alone is no reason", directory.SuggestRequest{Country: "NZ"}, nil, 10, nil},
			{"nothing in common", directory.SuggestRequest{Categories: []string{"security"}, LocalActor: localActor}, nil, 10, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got []string
				for _, s := range dir.SuggestPeers(tt.req, tt.exclude, tt.limit) {
					got = append(got, s.Slug)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("suggested %v, want %v", got, tt.want)
				}
			})
		}

		got := dir.SuggestPeers(civi, nil, 10)
		beta, kiwi := got[0], got[1]
		if beta.ActorID != localActor("beta") || kiwi.ActorID != "https://kiwi.example/coops/kiwi" {
			t.Errorf("actor ids %q, %q", beta.ActorID, kiwi.ActorID)
		}
		for _, want := range []string{"offers Data and CRM", "knows civicrm", "speaks Spanish", "mentions “Donor databases”"} {
			if !strings.Contains(beta.Reason(), want) {
				t.Errorf("beta's reasons %q lack %q", beta.Reason(), want)
			}
		}
		for _, want := range []string{"offers Data and CRM", "based in Spain", "speaks Spanish", "limited capacity"} {
			if !strings.Contains(kiwi.Reason(), want) {
				t.Errorf("kiwi's reasons %q lack %q", kiwi.Reason(), want)
			}
		}
		wombat := dir.SuggestPeers(directory.SuggestRequest{Categories: []string{"design"}, Country: "NZ"}, nil, 1)
		if len(wombat) != 1 || wombat[0].Reason() != "offers Design; works remotely" {
			t.Errorf("wombat suggested as %+v", wombat)
		}
		if beta.Score <= kiwi.Score {
			t.Errorf("scores beta %v, kiwi %v", beta.Score, kiwi.Score)
		}
	})
}
