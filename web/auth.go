package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/coopnet/coopnet/directory"
)

const (
	sessionCookie = "coopnet_session"
	sessionTTL    = 30 * 24 * time.Hour
	memberKey     = "member"
	csrfKey       = "csrf"
)

// currentMember returns the member logged in for this request, if any.
func currentMember(c echo.Context) (directory.Member, bool) {
	m, ok := c.Get(memberKey).(directory.Member)
	return m, ok
}

// csrf protects every HTML form: browsers that send Sec-Fetch-Site are checked
// by it, others by a token kept in a cookie and echoed in the form's _csrf field.
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		ContextKey:     csrfKey,
		CookieName:     "coopnet_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.secure,
		CookieSameSite: http.SameSiteLaxMode,
		Skipper:        notForms,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "this form has expired or did not come from this site: reload the page and try again")
		},
	})
}

// notForms tells the requests that never come from this site's forms: the
// API (bearer tokens, which browsers never send on their own) and the
// ActivityPub inboxes (HTTP signatures).
func notForms(c echo.Context) bool {
	switch c.Path() {
	case "/inbox", "/coops/:slug/inbox":
		return true
	}
	return isAPI(c)
}

// loadSession puts the member of the session cookie, if valid, in the context.
// The API ignores cookies: only tokens count there.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isAPI(c) {
			return next(c)
		}
		if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
			m, err := s.store.SessionMember(c.Request().Context(), ck.Value)
			switch {
			case err == nil:
				c.Set(memberKey, m)
			case errors.Is(err, directory.ErrNotFound):
				s.clearSessionCookie(c)
			default:
				return err
			}
		}
		return next(c)
	}
}

// startSession logs a member in: a new session and its cookie.
func (s *Server) startSession(c echo.Context, m directory.Member) error {
	secret, err := s.store.CreateSession(c.Request().Context(), m.ID, sessionTTL)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	c.Set(memberKey, m)
	return nil
}

// endSession logs out: the session is deleted, not only the cookie.
func (s *Server) endSession(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.store.DeleteSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	return nil
}

func (s *Server) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// requireMember sends visitors who are not logged in to the login page.
func (s *Server) requireMember(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := currentMember(c); !ok {
			return c.Redirect(http.StatusSeeOther, "/login?next="+urlQueryEscape(c.Request().URL.RequestURI()))
		}
		return next(c)
	}
}

// requireAdmin refuses members who are not admins of their coop.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		m, ok := currentMember(c)
		if !ok {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		if !m.IsAdmin() {
			return echo.NewHTTPError(http.StatusForbidden, "only admins of the coop can do this")
		}
		return next(c)
	}
}

// apiAuth reads a personal access token (Authorization: Bearer) when one is
// sent. Reads are public; handlers that write require a member.
func (s *Server) apiAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		if h == "" || !isAPI(c) {
			return next(c)
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return unauthorized(c, "the Authorization header must be: Bearer <token>")
		}
		m, err := s.store.TokenMember(c.Request().Context(), strings.TrimSpace(token))
		if errors.Is(err, directory.ErrNotFound) {
			return unauthorized(c, "unknown or revoked token")
		}
		if err != nil {
			return err
		}
		c.Set(memberKey, m)
		return next(c)
	}
}

// apiMember returns the token's member, or a 401 for anonymous requests.
func apiMember(c echo.Context) (directory.Member, error) {
	m, ok := currentMember(c)
	if !ok {
		return directory.Member{}, unauthorized(c, "this needs a personal access token: Authorization: Bearer <token>")
	}
	return m, nil
}

// unauthorized is a 401 that tells the client how to authenticate (RFC 6750).
func unauthorized(c echo.Context, msg string) error {
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="coopnet"`)
	return echo.NewHTTPError(http.StatusUnauthorized, msg)
}
