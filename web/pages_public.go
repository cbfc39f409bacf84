package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/markup"
	"github.com/coopnet/coopnet/internal/validate"
)

type homePage struct {
	Title   string
	Coops   []coopCard
	Network []peerCard // coops of peer nodes that agreed to be listed
}

// coopCard is a coop as the home page lists it.
type coopCard struct {
	Coop     directory.Coop
	Excerpt  string
	Location string
	Capacity string
}

func (s *Server) home(c echo.Context) error {
	ctx := c.Request().Context()
	ok, err := s.store.IsSetUp(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/setup")
	}
	coops, err := s.store.ListCoops(ctx)
	if err != nil {
		return err
	}
	p := homePage{Title: "Worker cooperatives on this node"}
	for _, co := range coops {
		p.Coops = append(p.Coops, coopCard{
			Coop: co, Excerpt: excerpt(markup.Plain(co.Summary), 200),
			Location: co.Location(), Capacity: directory.Label(directory.Capacities, string(co.Capacity)),
		})
	}
	if p.Network, err = s.peerCards(ctx); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "home", p)
}

// coopPage is a coop's public profile with every field in words.
type coopPage struct {
	Title     string
	Coop      directory.Coop
	Summary   template.HTML
	Location  string
	Capacity  string
	LegalForm string
	Languages []string
	Services  []directory.Service
	IsMember  bool // a member of this coop is looking
	Request   requestForm
}

func (s *Server) coopPage(c echo.Context) error {
	ctx := c.Request().Context()
	co, err := s.coopInPath(c)
	if err != nil {
		return err
	}
	services, err := s.store.ListServices(ctx, co.ID, false)
	if err != nil {
		return err
	}
	m, logged := currentMember(c)
	return s.render(c, http.StatusOK, "coop", coopPage{
		Title: co.Name, Coop: co, Summary: template.HTML(markup.Render(co.Summary)),
		Location: co.Location(), Capacity: directory.Label(directory.Capacities, string(co.Capacity)),
		LegalForm: directory.Label(directory.LegalForms, co.LegalForm), Languages: co.LanguageNames(),
		Services: services, IsMember: logged && m.CoopID == co.ID, Request: newRequestForm(co, nil),
	})
}

type servicePage struct {
	Title       string
	Coop        directory.Coop
	Service     directory.Service
	Description template.HTML
	Category    string
	Pricing     string
	Price       string
	IsMember    bool
}

func (s *Server) servicePage(c echo.Context) error {
	ctx := c.Request().Context()
	co, err := s.coopInPath(c)
	if err != nil {
		return err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	m, logged := currentMember(c)
	isMember := logged && m.CoopID == co.ID
	svc, err := s.store.Service(ctx, co.ID, id)
	if err == nil && !svc.Active && !isMember {
		err = directory.ErrNotFound // hidden services are for the coop's eyes only
	}
	if err != nil {
		return notFound(err, "This coop offers no such service, or no longer shows it.")
	}
	return s.render(c, http.StatusOK, "service", servicePage{
		Title: svc.Title, Coop: co, Service: svc, Description: template.HTML(markup.Render(svc.Description)),
		Category: directory.Label(directory.Categories, svc.Category),
		Pricing:  directory.Label(directory.PricingModels, svc.Pricing), Price: priceRange(svc), IsMember: isMember,
	})
}

// logo serves a coop's logo. It changes rarely but without a new URL, so
// browsers keep it five minutes and then revalidate it by its ETag.
func (s *Server) logo(c echo.Context) error {
	co, err := s.coopInPath(c)
	if err != nil {
		return err
	}
	l, err := s.store.Logo(c.Request().Context(), co.ID)
	if err != nil {
		return notFound(err, "This coop has no logo.")
	}
	sum := sha256.Sum256(l.Data)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, l.ContentType)
	h.Set(echo.HeaderCacheControl, "public, max-age=300")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	http.ServeContent(c.Response(), c.Request(), "", l.UpdatedAt, bytes.NewReader(l.Data))
	return nil
}

// coopInPath returns the coop named by the :slug in the path. A slug that
// cannot exist is not looked up: it is a 404 straight away.
func (s *Server) coopInPath(c echo.Context) (directory.Coop, error) {
	var e validate.Errors
	slug := c.Param("slug")
	directory.ValidSlug(&e, "slug", slug)
	if len(e) > 0 {
		return directory.Coop{}, echo.NewHTTPError(http.StatusNotFound, noCoop)
	}
	co, err := s.store.CoopBySlug(c.Request().Context(), slug)
	return co, notFound(err, noCoop)
}

const noCoop = "There is no coop at this address on this node."

// notFound gives ErrNotFound a message that says what is missing; other
// errors pass unchanged.
func notFound(err error, msg string) error {
	if errors.Is(err, directory.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, msg)
	}
	return err
}

// priceRange is a service's price in words, or "" when none is given.
func priceRange(svc directory.Service) string {
	amount := func(v *int64) string { return strconv.FormatInt(*v, 10) + " " + svc.Currency }
	switch {
	case svc.PriceMin != nil && svc.PriceMax != nil && *svc.PriceMin == *svc.PriceMax:
		return amount(svc.PriceMin)
	case svc.PriceMin != nil && svc.PriceMax != nil:
		return strconv.FormatInt(*svc.PriceMin, 10) + " to " + amount(svc.PriceMax)
	case svc.PriceMin != nil:
		return "from " + amount(svc.PriceMin)
	case svc.PriceMax != nil:
		return "up to " + amount(svc.PriceMax)
	}
	return ""
}

// excerpt shortens text to about n characters, at a word boundary.
func excerpt(text string, n int) string {
	if utf8.RuneCountInString(text) <= n {
		return text
	}
	cut := string([]rune(text)[:n])
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
