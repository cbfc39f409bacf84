package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// apiMeJSON is who a token belongs to: a client's first call, to check its token
// and learn which coop it may change.
type apiMeJSON struct {
	Member   directory.Member `json:"member"`
	CoopSlug string           `json:"coop_slug"`
}

// apiMe shows the token's member and their coop.
func (s *Server) apiMe(c echo.Context) error {
	m, err := apiMember(c)
	if err != nil {
		return err
	}
	coop, err := s.store.CoopByID(c.Request().Context(), m.CoopID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiMeJSON{Member: m, CoopSlug: coop.Slug})
}

// apiNewTokenJSON is a token just created, with its secret: the only time the
// secret is shown, since only its hash is kept.
type apiNewTokenJSON struct {
	directory.APIToken
	Secret string `json:"secret"`
}

// apiTokenInput is the body of POST /tokens.
type apiTokenInput struct {
	Name string `json:"name"`
}

// apiListTokens lists the member's own tokens (never their secrets).
func (s *Server) apiListTokens(c echo.Context) error {
	m, err := apiMember(c)
	if err != nil {
		return err
	}
	tokens, err := s.store.ListTokens(c.Request().Context(), m.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tokens)
}

// apiCreateToken creates a token for the member and shows its secret once.
func (s *Server) apiCreateToken(c echo.Context) error {
	m, err := apiMember(c)
	if err != nil {
		return err
	}
	var in apiTokenInput
	if err := apiDecode(c, &in); err != nil {
		return err
	}
	t, secret, err := s.store.CreateToken(c.Request().Context(), m.ID, in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiNewTokenJSON{APIToken: t, Secret: secret})
}

// apiRevokeToken deletes one of the member's own tokens; another member's token
// is a 404, as if it did not exist.
func (s *Server) apiRevokeToken(c echo.Context) error {
	m, err := apiMember(c)
	if err != nil {
		return err
	}
	id, err := apiID(c)
	if err != nil {
		return err
	}
	if err := s.store.RevokeToken(c.Request().Context(), m.ID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
