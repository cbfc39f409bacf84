package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

// apiServiceInput is the body of POST and PUT on a service. Both replace every
// field; fields left out take the value a new service has.
type apiServiceInput struct {
	Title       apiField[string]   `json:"title"`
	Description apiField[string]   `json:"description"`
	Category    apiField[string]   `json:"category"`
	Tags        apiField[[]string] `json:"tags"`
	Pricing     apiField[string]   `json:"pricing"`
	PriceMin    apiField[*int64]   `json:"price_min"`
	PriceMax    apiField[*int64]   `json:"price_max"`
	Currency    apiField[string]   `json:"currency"`
	Active      apiField[bool]     `json:"active"`

	// Read-only fields are accepted and ignored, so that a service read with
	// GET can be changed and sent back with PUT as it is.
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

// service returns the service the input describes. A service is active unless
// the client says otherwise: one created without "active" should be seen.
func (in apiServiceInput) service() directory.Service {
	svc := directory.Service{Active: true}
	apiSet(&svc.Title, in.Title)
	apiSet(&svc.Description, in.Description)
	apiSet(&svc.Category, in.Category)
	apiSet(&svc.Tags, in.Tags)
	apiSet(&svc.Pricing, in.Pricing)
	apiSet(&svc.PriceMin, in.PriceMin)
	apiSet(&svc.PriceMax, in.PriceMax)
	apiSet(&svc.Currency, in.Currency)
	apiSet(&svc.Active, in.Active)
	return svc
}

// apiListServices lists a coop's active services; its own members may ask for
// the inactive ones too with ?include_inactive=true.
func (s *Server) apiListServices(c echo.Context) error {
	coop, err := s.apiURLCoop(c)
	if err != nil {
		return err
	}
	inactive := false
	if v := c.QueryParam("include_inactive"); v != "" {
		if inactive, err = strconv.ParseBool(v); err != nil {
			return &validate.Error{Fields: validate.Errors{"include_inactive": "must be true or false"}}
		}
	}
	services, err := s.store.ListServices(c.Request().Context(), coop.ID, inactive && apiIsMember(c, coop))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, services)
}

// apiGetService shows one service. An inactive service is hidden from everyone
// but the coop's members, as it is in the list.
func (s *Server) apiGetService(c echo.Context) error {
	coop, err := s.apiURLCoop(c)
	if err != nil {
		return err
	}
	id, err := apiID(c)
	if err != nil {
		return err
	}
	svc, err := s.store.Service(c.Request().Context(), coop.ID, id)
	if err != nil {
		return err
	}
	if !svc.Active && !apiIsMember(c, coop) {
		return directory.ErrNotFound
	}
	return c.JSON(http.StatusOK, svc)
}

// apiCreateService adds a service to the coop and answers with it and its URL.
func (s *Server) apiCreateService(c echo.Context) error {
	coop, _, err := s.apiMemberCoop(c)
	if err != nil {
		return err
	}
	var in apiServiceInput
	if err := apiDecode(c, &in); err != nil {
		return err
	}
	svc, err := s.store.CreateService(c.Request().Context(), coop.ID, in.service())
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation,
		s.apiAbsURL("/api/v1/coops/"+coop.Slug+"/services/"+strconv.FormatInt(svc.ID, 10)))
	return c.JSON(http.StatusCreated, svc)
}

// apiPutService replaces a service. The service must exist first: PUT does not
// create, ids are the store's to give.
func (s *Server) apiPutService(c echo.Context) error {
	coop, svc, err := s.apiMemberService(c)
	if err != nil {
		return err
	}
	var in apiServiceInput
	if err := apiDecode(c, &in); err != nil {
		return err
	}
	next := in.service()
	next.ID, next.CoopID = svc.ID, coop.ID
	saved, err := s.store.UpdateService(c.Request().Context(), next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, saved)
}

// apiDeleteService removes a service.
func (s *Server) apiDeleteService(c echo.Context) error {
	coop, svc, err := s.apiMemberService(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteService(c.Request().Context(), coop.ID, svc.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiMemberService returns the coop and service in the URL for a member of that
// coop, checking the service exists before the body is read, so that a PUT to
// a missing service is a 404 whatever it sends.
func (s *Server) apiMemberService(c echo.Context) (directory.Coop, directory.Service, error) {
	coop, _, err := s.apiMemberCoop(c)
	if err != nil {
		return directory.Coop{}, directory.Service{}, err
	}
	id, err := apiID(c)
	if err != nil {
		return directory.Coop{}, directory.Service{}, err
	}
	svc, err := s.store.Service(c.Request().Context(), coop.ID, id)
	if err != nil {
		return directory.Coop{}, directory.Service{}, err
	}
	return coop, svc, nil
}
