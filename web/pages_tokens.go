package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

type tokensPage struct {
	Title     string
	Tokens    []directory.APIToken
	Form      form
	NewName   string
	NewSecret string // shown once, right after the token is made
	Notice    string
}

// tokensPage gathers the member's own personal access tokens.
func (s *Server) tokensPage(c echo.Context) (tokensPage, error) {
	m, _ := currentMember(c)
	list, err := s.store.ListTokens(c.Request().Context(), m.ID)
	if err != nil {
		return tokensPage{}, err
	}
	return tokensPage{Title: "Personal access tokens", Tokens: list, Form: newForm(nil), Notice: notice(c)}, nil
}

func (s *Server) tokens(c echo.Context) error {
	p, err := s.tokensPage(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "tokens", p)
}

// createToken makes a token and shows its secret this once: only its hash
// is kept.
func (s *Server) createToken(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	m, _ := currentMember(c)
	tok, secret, err := s.store.CreateToken(c.Request().Context(), m.ID, values.Get("name"))
	p, perr := s.tokensPage(c)
	if perr != nil {
		return perr
	}
	if err != nil {
		f, ok := newForm(values).withError(err)
		if !ok {
			return err
		}
		p.Form = f
		return s.render(c, http.StatusBadRequest, "tokens", p)
	}
	p.NewName, p.NewSecret = tok.Name, secret
	return s.render(c, http.StatusOK, "tokens", p)
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	m, _ := currentMember(c)
	if err := s.store.RevokeToken(c.Request().Context(), m.ID, id); err != nil {
		return notFound(err, "You have no such token.")
	}
	return c.Redirect(http.StatusSeeOther, "/manage/tokens?done=token-revoked")
}
