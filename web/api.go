package web

import "github.com/labstack/echo/v4"

// apiRoutes registers the JSON API under /api/v1.
func (s *Server) apiRoutes(g *echo.Group) {
}
