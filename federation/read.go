package federation

import "github.com/labstack/echo/v4"

// registerRead adds the read-only federation routes.
func (f *Federation) registerRead(e *echo.Echo) {}
