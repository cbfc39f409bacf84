package federation

import "github.com/labstack/echo/v4"

// registerInbox adds the inboxes.
func (f *Federation) registerInbox(e *echo.Echo) {}
