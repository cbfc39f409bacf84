package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

// apiError is the body of every JSON API error.
type apiError struct {
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// statusOf maps an error from the domain or from echo to an HTTP status and a
// message that is safe to show. Anything unknown is a 500 whose details stay in
// the log.
func statusOf(err error) (int, string, map[string]string) {
	var ve *validate.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, "invalid input", ve.Fields
	case errors.As(err, &he):
		// Before the sentinels: an HTTPError wrapping ErrNotFound carries
		// its own, more specific message.
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		return he.Code, msg, nil
	case errors.Is(err, directory.ErrNotFound):
		return http.StatusNotFound, "not found", nil
	case errors.Is(err, directory.ErrConflict), errors.Is(err, directory.ErrAlreadySetUp), errors.Is(err, directory.ErrLastAdmin):
		return http.StatusConflict, trimPrefix(err.Error()), nil
	}
	return http.StatusInternalServerError, "something went wrong on our side; it has been logged", nil
}

func trimPrefix(s string) string {
	const p = "directory: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// handleError is echo's HTTPErrorHandler: every error a handler returns ends
// here, becomes JSON under /api/ and an HTML page elsewhere, and is logged once.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg, fields := statusOf(err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(c.Request().Context(), level, "request failed", "status", status, "err", err,
		"method", c.Request().Method, "uri", redactURI(c.Request().RequestURI),
		"request_id", c.Response().Header().Get(echo.HeaderXRequestID))

	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else if isAPI(c) || wantsJSON(c) {
		err = c.JSON(status, apiError{Message: msg, Fields: fields})
	} else {
		err = s.render(c, status, "error", errorPage{Status: status, Title: http.StatusText(status), Message: msg})
	}
	if err != nil {
		s.log.Error("write error response", "err", err)
	}
}

func wantsJSON(c echo.Context) bool {
	accept := c.Request().Header.Get(echo.HeaderAccept)
	return accept == echo.MIMEApplicationJSON
}

type errorPage struct {
	Status  int
	Title   string
	Message string
}
