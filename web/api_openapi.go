package web

import (
	_ "embed" // for openapi.json
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDoc describes the JSON API. It is written by hand, next to the
// handlers, and TestOpenAPIMatchesRoutes fails when it and the routes differ.
//
//go:embed openapi.json
var openAPIDoc []byte

// apiOpenAPI serves the OpenAPI document.
func (s *Server) apiOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
