package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/time/rate"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
)

// pageRoutes registers the HTML pages.
func (s *Server) pageRoutes(g *echo.Group) {
	g.GET("/static/*", s.static)

	limit := s.loginLimiter()
	g.GET("/", s.home)
	g.GET("/setup", s.setupForm, s.onlyBeforeSetup)
	g.POST("/setup", s.setup, limit, s.onlyBeforeSetup)
	g.GET("/login", s.loginForm)
	g.POST("/login", s.login, limit)
	g.POST("/logout", s.logout)
	// A coop's page and its services' pages are also its ActivityPub actor
	// and objects, chosen by the Accept header.
	g.GET("/coops/:slug", s.negotiate(s.coopPage, s.fed.ServeActor))
	g.GET("/coops/:slug/logo", s.logo)
	g.GET("/coops/:slug/services/:id", s.negotiate(s.servicePage, s.fed.ServeService))
	g.GET("/network/:id", s.remoteCoopPage)
	g.GET("/directory", s.directorySearch)
	g.GET("/directory.csv", s.directoryCSV)
	g.GET("/directory.json", s.directoryJSON)
	g.GET("/opensearch.xml", s.openSearch)
	g.GET("/invitations/:token", s.invitationForm, noStore)
	g.POST("/invitations/:token", s.acceptInvitation, noStore)

	m := g.Group("/manage", s.requireMember, noStore)
	m.GET("", s.dashboard)
	m.GET("/profile", s.profileForm)
	m.POST("/profile", s.saveProfile)
	m.POST("/logo", s.uploadLogo)
	m.POST("/logo/delete", s.deleteLogo)
	m.GET("/services", s.manageServices)
	m.GET("/services/new", s.newServiceForm)
	m.POST("/services/new", s.createService)
	m.GET("/services/:id/edit", s.editServiceForm)
	m.POST("/services/:id/edit", s.updateService)
	m.POST("/services/:id/delete", s.deleteService)
	m.GET("/tokens", s.tokens)
	m.POST("/tokens", s.createToken)
	m.POST("/tokens/:id/revoke", s.revokeToken)

	a := m.Group("/members", s.requireAdmin)
	a.GET("", s.members)
	a.POST("/invite", s.invite)
	a.POST("/:id/remove", s.removeMember)

	m.GET("/network", s.network)
	n := m.Group("/network", s.requireAdmin)
	n.POST("/follow", s.follow)
	n.POST("/unfollow", s.followAction((*federation.Federation).Unfollow, "unfollowed"))
	n.POST("/approve", s.followAction((*federation.Federation).ApproveFollower, "follower-approved"))
	n.POST("/reject", s.followAction((*federation.Federation).RejectFollower, "follower-rejected"))
	n.POST("/remove", s.followAction((*federation.Federation).RemoveFollower, "follower-removed"))

	// The work request form and status page, and the members' triage.
	s.referralPageRoutes(g, m)

	fa := m.Group("/federation", s.requireAdmin)
	fa.GET("", s.federationAdmin)
	fa.POST("/deliveries/:id/retry", s.retryDelivery)
	fa.POST("/peers/retry", s.retryPeer)
	fa.POST("/policy", s.savePolicy)
}

// negotiate serves the ActivityPub document behind a page's URL to clients
// that ask for one, and the page to everyone else.
func (s *Server) negotiate(page, activityPub echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Accept")
		if federation.IsActivityRequest(c.Request()) {
			return activityPub(c)
		}
		return page(c)
	}
}

// loginLimiter limits password guessing: login and setup attempts share one
// budget per client address.
func (s *Server) loginLimiter() echo.MiddlewareFunc {
	perMinute := s.cfg.LoginAttemptsPerMinute
	burst := min(max(int(perMinute/2), 1), 10)
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(perMinute / 60), Burst: burst, ExpiresIn: 10 * time.Minute,
	})
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store: store,
		IdentifierExtractor: func(c echo.Context) (string, error) {
			return c.RealIP(), nil
		},
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			c.Response().Header().Set("Retry-After", "60")
			return echo.NewHTTPError(http.StatusTooManyRequests,
				"Too many attempts from your address. Please wait a minute, then try again.")
		},
	})
}

// noStore keeps pages with secrets or private data out of shared and browser
// caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return next(c)
	}
}

// static serves the embedded stylesheet and other assets. They are not
// fingerprinted, so browsers keep them an hour and then revalidate by ETag.
func (s *Server) static(c echo.Context) error {
	name := path.Clean(strings.TrimPrefix(c.Param("*"), "/"))
	if !fs.ValidPath(name) || name == "." {
		return echo.ErrNotFound
	}
	data, err := fs.ReadFile(staticFiles, "static/"+name)
	if err != nil {
		return echo.ErrNotFound
	}
	sum := sha256.Sum256(data)
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType(name))
	h.Set(echo.HeaderCacheControl, "public, max-age=3600")
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	http.ServeContent(c.Response(), c.Request(), name, time.Time{}, strings.NewReader(string(data)))
	return nil
}

func contentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// memberCoop returns the logged-in member and the coop they belong to.
func (s *Server) memberCoop(c echo.Context) (directory.Member, directory.Coop, error) {
	m, ok := currentMember(c)
	if !ok {
		return directory.Member{}, directory.Coop{}, echo.ErrUnauthorized
	}
	co, err := s.store.CoopByID(c.Request().Context(), m.CoopID)
	return m, co, err
}

// idParam reads a numeric path parameter. Anything else names no object, so
// it is a 404 rather than a 400.
func idParam(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "There is nothing at this address.")
	}
	return id, nil
}

// notices are the messages a redirect can ask the next page to show, by
// key: the text never comes from the URL.
var notices = map[string]string{
	"saved":             "Your changes are saved.",
	"logo":              "The new logo is saved.",
	"logo-deleted":      "The logo is removed.",
	"service-created":   "The service is added.",
	"service-saved":     "The service is saved.",
	"service-deleted":   "The service is deleted.",
	"member-removed":    "The member is removed.",
	"token-revoked":     "The token is revoked: it no longer works.",
	"follow-sent":       "The follow request is on its way. It shows as following once the peer accepts.",
	"unfollowed":        "You no longer follow that coop.",
	"follower-approved": "The follower is approved.",
	"follower-rejected": "The follow request is rejected.",
	"follower-removed":  "The follower is removed.",
	"delivery-retried":  "The delivery will be tried again now.",
	"peer-retried":      "Deliveries to that peer will be tried again now.",
	"policy-saved":      "The federation policy is saved.",
}

// notice returns the message named by the ?done= parameter, if any.
func notice(c echo.Context) string {
	return notices[c.QueryParam("done")]
}

// safeNext returns where to go after logging in: only a path on this site,
// never another host ("//host" or "/\host" are read as hosts by browsers).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return "/manage"
	}
	return next
}
