// Package web serves the node over HTTP: the HTML pages people use, the JSON
// API, and the health checks. It calls the domain packages and holds no SQL.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/referrals"
)

// Config is what the web server needs; cmd/coopnet fills it.
type Config struct {
	// BaseURL is the node's public URL, fixed at setup.
	BaseURL *url.URL
	Store   *directory.Store
	// Directory is the searchable directory of every coop the node knows.
	Directory *directory.Directory
	// Referrals holds work requests and referrals between coops.
	Referrals *referrals.Store
	// Federation serves the ActivityPub side: its routes, the documents
	// behind the coop and service pages, and the network pages' data.
	Federation *federation.Federation
	Logger     *slog.Logger
	// LoginAttemptsPerMinute limits login and setup attempts per client
	// address (0 means 10).
	LoginAttemptsPerMinute float64
	// WorkRequestsPerHour limits the work requests sent to the node's coops
	// (form and API) per client address (0 means 12).
	WorkRequestsPerHour float64
}

// Server holds the web layer's dependencies.
type Server struct {
	cfg    Config
	store  *directory.Store
	fed    *federation.Federation
	log    *slog.Logger
	pages  *pages
	secure bool // cookies only over HTTPS when the node is served over HTTPS
	// intakeLimit is the one rate limit of the work request form and API.
	intakeLimit echo.MiddlewareFunc
	// answers are the search API's reusable buffers (api_search_json.go).
	answers searchAnswers
}

// New returns the node's HTTP handler with every route.
func New(cfg Config) (*echo.Echo, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LoginAttemptsPerMinute == 0 {
		cfg.LoginAttemptsPerMinute = 10
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}
	if cfg.Federation == nil {
		return nil, errors.New("web: no federation")
	}
	s := &Server{cfg: cfg, store: cfg.Store, fed: cfg.Federation, log: cfg.Logger, pages: pg, secure: cfg.BaseURL.Scheme == "https"}
	s.intakeLimit = s.intakeLimiter()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(middleware.RequestID())
	e.Use(s.logRequests())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("2M"))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "same-origin",
		ContentSecurityPolicy: "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// Authentication and CSRF run for every request after routing, each
	// skipping the paths it is not for: middleware given to a group would
	// also add catch-all routes, turning 405 answers into 404s.
	e.Use(s.apiAuth)
	e.Use(s.csrf())
	e.Use(s.loadSession)
	s.apiRoutes(e.Group("/api/v1"))
	s.pageRoutes(e.Group(""))
	cfg.Federation.Register(e)
	return e, nil
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.DB().Ping(ctx); err != nil {
		s.log.Warn("not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// logRequests logs one line per request, with its id, at the end.
func (s *Server) logRequests() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("uri", redactURI(v.URI)), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

func isAPI(c echo.Context) bool {
	return strings.HasPrefix(c.Request().URL.Path, "/api/")
}
