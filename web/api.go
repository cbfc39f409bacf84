package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// apiRoutes registers the JSON API under /api/v1. Every route here is also
// described in openapi.json; TestOpenAPIMatchesRoutes keeps the two in step.
func (s *Server) apiRoutes(g *echo.Group) {
	g.GET("/openapi.json", s.apiOpenAPI)
	g.GET("/me", s.apiMe)

	g.GET("/coops", s.apiListCoops)
	g.GET("/coops/:slug", s.apiGetCoop)
	g.PUT("/coops/:slug", s.apiPutCoop)
	g.PATCH("/coops/:slug", s.apiPatchCoop)
	g.GET("/coops/:slug/members", s.apiListMembers)

	g.GET("/coops/:slug/services", s.apiListServices)
	g.POST("/coops/:slug/services", s.apiCreateService)
	g.GET("/coops/:slug/services/:id", s.apiGetService)
	g.PUT("/coops/:slug/services/:id", s.apiPutService)
	g.DELETE("/coops/:slug/services/:id", s.apiDeleteService)

	g.GET("/search", s.apiSearch)
	g.GET("/directory", s.apiDirectory)

	s.referralAPIRoutes(g)

	g.GET("/tokens", s.apiListTokens)
	g.POST("/tokens", s.apiCreateToken)
	g.DELETE("/tokens/:id", s.apiRevokeToken)
}

// apiURLCoop returns the coop named by the :slug in the URL, or ErrNotFound.
func (s *Server) apiURLCoop(c echo.Context) (directory.Coop, error) {
	return s.store.CoopBySlug(c.Request().Context(), c.Param("slug"))
}

// apiMemberCoop returns the coop in the URL for a request only its members may
// make (every write, and reading its members): the token's member must belong
// to that coop. Authentication is checked first, so that anonymous callers
// learn nothing more than that they need a token.
func (s *Server) apiMemberCoop(c echo.Context) (directory.Coop, directory.Member, error) {
	m, err := apiMember(c)
	if err != nil {
		return directory.Coop{}, directory.Member{}, err
	}
	coop, err := s.apiURLCoop(c)
	if err != nil {
		return directory.Coop{}, directory.Member{}, err
	}
	if m.CoopID != coop.ID {
		return directory.Coop{}, directory.Member{}, echo.NewHTTPError(http.StatusForbidden,
			"only members of "+coop.Slug+" can do this")
	}
	return coop, m, nil
}

// apiIsMember reports whether the request's token belongs to a member of coop.
func apiIsMember(c echo.Context, coop directory.Coop) bool {
	m, ok := currentMember(c)
	return ok && m.CoopID == coop.ID
}

// apiID reads a numeric :id. Anything else names no resource, so it is a 404
// rather than a 400: /services/abc is simply a URL that does not exist.
func apiID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, directory.ErrNotFound
	}
	return id, nil
}

// apiAbsURL makes an absolute URL on this node from a path, so that links in API
// answers work wherever the client runs.
func (s *Server) apiAbsURL(path string) string {
	return strings.TrimSuffix(s.cfg.BaseURL.String(), "/") + path
}
