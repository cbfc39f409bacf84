package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

type formPage struct {
	Title string
	Form  form
}

// onlyBeforeSetup hides the setup pages once the node has its first coop:
// nobody may set it up a second time.
func (s *Server) onlyBeforeSetup(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, err := s.store.IsSetUp(c.Request().Context())
		if err != nil {
			return err
		}
		if ok {
			return echo.NewHTTPError(http.StatusNotFound, "This node is already set up. Members log in on the login page.")
		}
		return next(c)
	}
}

func (s *Server) setupForm(c echo.Context) error {
	return s.render(c, http.StatusOK, "setup", formPage{Title: "Set up this node", Form: newForm(nil)})
}

// setup creates the node's first coop and admin, and logs the admin in.
func (s *Server) setup(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	f := newForm(values)
	in := directory.SetupInput{
		CoopName: values.Get("coop_name"), Slug: strings.ToLower(strings.TrimSpace(values.Get("slug"))),
		AdminName: strings.TrimSpace(values.Get("admin_name")), AdminEmail: values.Get("email"),
		Password: values.Get("password"),
	}
	validate.Required(&f.Errors, "admin_name", in.AdminName, 100)
	confirmPassword(&f.Errors, values)
	if len(f.Errors) > 0 {
		return s.render(c, http.StatusBadRequest, "setup", formPage{Title: "Set up this node", Form: f})
	}
	_, m, err := s.store.Setup(c.Request().Context(), in, s.cfg.BaseURL.String())
	if errors.Is(err, directory.ErrAlreadySetUp) {
		return echo.NewHTTPError(http.StatusNotFound, "This node is already set up.")
	}
	if err != nil {
		return s.setupRejected(c, f, err)
	}
	if err := s.startSession(c, m); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/profile")
}

// setupRejected shows the setup form again with the store's messages.
func (s *Server) setupRejected(c echo.Context, f form, err error) error {
	var ve *validate.Error
	if !errors.As(err, &ve) {
		return err
	}
	for k, v := range ve.Fields {
		f.Errors.Add(k, v)
	}
	return s.render(c, http.StatusBadRequest, "setup", formPage{Title: "Set up this node", Form: f})
}

// confirmPassword checks that both password fields say the same.
func confirmPassword(e *validate.Errors, values url.Values) {
	if values.Get("password") != values.Get("password_confirm") {
		e.Add("password_confirm", "must be the same as the password")
	}
}

type loginPage struct {
	Title string
	Form  form
	Next  string
}

func (s *Server) loginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if _, ok := currentMember(c); ok {
		return c.Redirect(http.StatusSeeOther, next)
	}
	return s.render(c, http.StatusOK, "login", loginPage{Title: "Member login", Form: newForm(nil), Next: next})
}

func (s *Server) login(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	next := safeNext(values.Get("next"))
	m, err := s.store.Authenticate(c.Request().Context(), values.Get("email"), values.Get("password"))
	if errors.Is(err, directory.ErrBadCredentials) {
		f := newForm(url.Values{"email": {values.Get("email")}})
		f.Errors.Add(formError, "The e-mail address or the password is wrong. Please try again.")
		return s.render(c, http.StatusUnauthorized, "login", loginPage{Title: "Member login", Form: f, Next: next})
	}
	if err != nil {
		return err
	}
	if err := s.endSession(c); err != nil {
		return err
	}
	if err := s.startSession(c, m); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends the session in the database, so a copied cookie stops working
// too.
func (s *Server) logout(c echo.Context) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}
