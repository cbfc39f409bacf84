package web

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/coopnet/coopnet/directory"
)

// pageFillProfile gives the test coop a full profile and two services, one
// of them hidden.
func (n *testNode) pageFillProfile(t *testing.T) (shown, hidden directory.Service) {
	t.Helper()
	ctx := context.Background()
	co := n.coop
	co.Summary = "We build **accessible** websites.\n\n# Our story\n\nSee [our work](https://alpha.example/work). <script>alert('x')</script>"
	co.Website, co.City, co.Region, co.Country = "https://alpha.example", "Leipzig", "Saxony", "DE"
	co.RegionsServed, co.RemoteFriendly, co.Languages = []string{"Saxony", "Berlin"}, true, []string{"de", "pt-BR"}
	co.YearFounded, co.LegalForm, co.WorkerOwners, co.Workers = 2015, "worker-coop", 7, 9
	co.Networks, co.ContactEmail, co.Capacity, co.Skills = []string{"CoTech"}, "hello@alpha.example", directory.CapacityLimited, []string{"CiviCRM"}
	if _, err := n.store.UpdateCoop(ctx, co); err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(60), int64(90)
	shown, err := n.store.CreateService(ctx, n.coop.ID, directory.Service{
		Title: "CiviCRM setup", Description: "We *install* CiviCRM.", Category: "data-crm", Tags: []string{"crm", "donors"},
		Pricing: "hourly", PriceMin: &lo, PriceMax: &hi, Currency: "EUR", Active: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	hidden, err = n.store.CreateService(ctx, n.coop.ID, directory.Service{
		Title: "Secret pilot", Category: "training", Pricing: "pro-bono", Active: false,
	})
	if err != nil {
		t.Fatal(err)
	}
	return shown, hidden
}

func TestPublicPagesWithoutLogin(t *testing.T) {
	n := newTestNode(t)
	shown, hidden := n.pageFillProfile(t)

	t.Run("home", func(t *testing.T) {
		rec := n.pageGet(t, "/", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, `<a href="/coops/alpha">Alpha Tech Coop</a>`, "We build accessible websites. Our story",
			"Leipzig, Saxony, Germany", "Limited capacity")
		pageWantNoBody(t, rec, "**", "<script")
	})

	t.Run("profile", func(t *testing.T) {
		rec := n.pageGet(t, "/coops/alpha", "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec,
			"<h1>Alpha Tech Coop</h1>", "<strong>accessible</strong>", "<h3>Our story</h3>",
			`<a href="https://alpha.example/work" rel="nofollow noopener">our work</a>`,
			"Leipzig, Saxony, Germany", "Limited capacity", "Worker cooperative", "2015",
			"<dt>Worker-owners</dt><dd>7</dd>", "<dt>Workers</dt><dd>9</dd>", "Saxony, Berlin",
			"Yes, happy to work remotely", "German, Brazilian Portuguese", "CoTech", "<li>CiviCRM</li>",
			`<a href="mailto:hello@alpha.example">hello@alpha.example</a>`,
			`<a href="https://alpha.example" rel="nofollow noopener">https://alpha.example</a>`,
			`<a href="/coops/alpha/services/`+strconv.FormatInt(shown.ID, 10)+`">CiviCRM setup</a>`, "Data and CRM")
		pageWantNoBody(t, rec, "Secret pilot", "<script", "Edit this profile")
	})

	t.Run("service", func(t *testing.T) {
		rec := n.pageGet(t, "/coops/alpha/services/"+strconv.FormatInt(shown.ID, 10), "")
		pageWantStatus(t, rec, http.StatusOK)
		pageWantBody(t, rec, "<h1>CiviCRM setup</h1>", "Data and CRM", "Hourly rate: 60 to 90 EUR",
			"<li>donors</li>", "We <em>install</em> CiviCRM.", `<a href="/coops/alpha">`)
	})

	t.Run("not found", func(t *testing.T) {
		for path, msg := range map[string]string{
			"/coops/nobody":             "There is no coop at this address",
			"/coops/alpha/services/999": "no such service",
			"/coops/alpha/services/abc": "There is nothing at this address",
			"/coops/alpha/services/-1":  "There is nothing at this address",
			"/coops/nobody/services/1":  "There is no coop at this address",
			"/coops/nobody/logo":        "There is no coop at this address",
			"/coops/alpha/services/" + strconv.FormatInt(hidden.ID, 10): "no such service",
		} {
			rec := n.pageGet(t, path, "")
			pageWantStatus(t, rec, http.StatusNotFound)
			pageWantBody(t, rec, msg)
		}
	})
}

func TestHiddenServiceIsForTheCoopsMembers(t *testing.T) {
	n := newTestNode(t)
	_, hidden := n.pageFillProfile(t)
	path := "/coops/alpha/services/" + strconv.FormatInt(hidden.ID, 10)

	rec := n.pageGet(t, path, n.session(t, n.admin))
	pageWantStatus(t, rec, http.StatusOK)
	pageWantBody(t, rec, "<h1>Secret pilot</h1>", "This service is hidden", "Edit this service")

	// A member of another coop on the same node is the public here.
	other, err := n.store.CreateCoop(context.Background(), directory.Coop{Slug: "beta", Name: "Beta"})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := n.store.Invite(context.Background(), other.ID, n.admin.ID, "cy@beta.example", directory.RoleAdmin)
	cy, err := n.store.AcceptInvitation(context.Background(), secret, "Cy", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	pageWantStatus(t, n.pageGet(t, path, n.session(t, cy)), http.StatusNotFound)
}
