package web

import "github.com/labstack/echo/v4"

// pageRoutes registers the HTML pages.
func (s *Server) pageRoutes(g *echo.Group) {
}
