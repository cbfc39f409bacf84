package web

import (
	"context"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/markup"
)

// Coops learned from peer nodes, shown here as their peers last published
// them: listed on the home page when they opted in to being listed, and each
// on a page of its own at /network/:id. These pages are copies: they always
// point to the coop's own page on its node, and never republish anything.

// peerCard is a remote coop as the home page lists it.
type peerCard struct {
	Coop     directory.KnownCoop
	Excerpt  string
	Location string
	Capacity string
}

// peerCards returns the remote coops a public directory may list: those
// whose actor says they are discoverable.
func (s *Server) peerCards(ctx context.Context) ([]peerCard, error) {
	coops, err := s.store.ListRemoteCoops(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]peerCard, 0, len(coops))
	for _, co := range coops {
		out = append(out, peerCard{
			Coop: co, Excerpt: excerpt(markup.Plain(co.Summary), 200),
			Location: co.Location(), Capacity: directory.Label(directory.Capacities, string(co.Capacity)),
		})
	}
	return out, nil
}

// peerPage is a remote coop's profile as known here.
type peerPage struct {
	Title     string
	Coop      directory.KnownCoop
	Summary   template.HTML
	Location  string
	Capacity  string
	LegalForm string
	Languages []string
	Services  []peerService
	Home      string // the coop's own page on its node
	Updated   string // when this node last read the profile, in words
	UpdatedAt string // the same, for <time datetime>
	Unlisted  bool   // not discoverable: shown to members of a coop that follows it
}

// peerService is a remote coop's service with its fields in words.
type peerService struct {
	Service     directory.RemoteService
	Description template.HTML
	Category    string
	Pricing     string
	Price       string
}

const noPeerCoop = "This node knows no coop of another node at this address."

// remoteCoopPage shows a coop hosted on a peer node. Coops hosted here have
// their page at /coops/:slug, so their ids are not found here. A coop that
// did not opt in to being listed is shown only to members of a coop here
// that follows it; to everyone else it does not exist.
func (s *Server) remoteCoopPage(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	co, err := s.store.RemoteCoopByID(ctx, id)
	if err != nil {
		return notFound(err, noPeerCoop)
	}
	if !co.Discoverable {
		ok, err := s.followedByMember(c, co)
		if err != nil {
			return err
		}
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound, noPeerCoop)
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "private, no-store")
	}
	services, err := s.store.ListRemoteServices(ctx, co.ID)
	if err != nil {
		return err
	}
	p := peerPage{
		Title: co.Name, Coop: co, Summary: template.HTML(markup.Render(co.Summary)),
		Location: co.Location(), Capacity: directory.Label(directory.Capacities, string(co.Capacity)),
		LegalForm: directory.Label(directory.LegalForms, co.LegalForm), Languages: co.LanguageNames(),
		Home: co.URL, Unlisted: !co.Discoverable,
	}
	if p.Home == "" {
		p.Home = co.ActorID // an http(s) URL on the coop's host, checked when stored
	}
	if !co.FetchedAt.IsZero() {
		p.Updated = co.FetchedAt.UTC().Format("2 January 2006, 15:04 UTC")
		p.UpdatedAt = co.FetchedAt.UTC().Format(time.RFC3339)
	}
	for _, svc := range services {
		if !svc.Active {
			continue
		}
		p.Services = append(p.Services, peerService{
			Service: svc, Description: template.HTML(markup.Render(svc.Description)),
			Category: directory.Label(directory.Categories, svc.Category),
			Pricing:  directory.Label(directory.PricingModels, svc.Pricing), Price: priceRange(svc.Service),
		})
	}
	return s.render(c, http.StatusOK, "peer", p)
}

// followedByMember reports whether the visitor is a member of a coop here
// whose follow of co was accepted.
func (s *Server) followedByMember(c echo.Context, co directory.KnownCoop) (bool, error) {
	m, ok := currentMember(c)
	if !ok || co.ActorID == "" {
		return false, nil
	}
	following, err := s.fed.Following(c.Request().Context(), m.CoopID)
	if err != nil {
		return false, err
	}
	for _, f := range following {
		if f.ActorID == co.ActorID && f.State == "accepted" {
			return true, nil
		}
	}
	return false, nil
}
