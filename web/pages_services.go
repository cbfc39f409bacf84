package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

type servicesPage struct {
	Title    string
	Coop     directory.Coop
	Services []directory.Service
	Notice   string
}

// manageServices lists all the coop's services, hidden ones too.
func (s *Server) manageServices(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	list, err := s.store.ListServices(c.Request().Context(), co.ID, true)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "services", servicesPage{Title: "Services", Coop: co, Services: list, Notice: notice(c)})
}

type serviceFormPage struct {
	Title   string
	Coop    directory.Coop
	Form    form
	Service directory.Service // zero for a new one
}

func (s *Server) renderServiceForm(c echo.Context, status int, co directory.Coop, svc directory.Service, f form) error {
	title := "Add a service"
	if svc.ID != 0 {
		title = "Edit the service"
	}
	return s.render(c, status, "service_form", serviceFormPage{Title: title, Coop: co, Form: f, Service: svc})
}

func (s *Server) newServiceForm(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	return s.renderServiceForm(c, http.StatusOK, co, directory.Service{}, newForm(url.Values{"active": {"on"}}))
}

func (s *Server) createService(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	return s.saveService(c, co, directory.Service{})
}

func (s *Server) editServiceForm(c echo.Context) error {
	co, svc, err := s.ownService(c)
	if err != nil {
		return err
	}
	return s.renderServiceForm(c, http.StatusOK, co, svc, newForm(serviceValues(svc)))
}

func (s *Server) updateService(c echo.Context) error {
	co, svc, err := s.ownService(c)
	if err != nil {
		return err
	}
	return s.saveService(c, co, svc)
}

// saveService creates (svc.ID 0) or updates a service from the posted form.
func (s *Server) saveService(c echo.Context, co directory.Coop, svc directory.Service) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	f := newForm(values)
	edited, parseErrs := serviceFromForm(svc, values)
	if len(parseErrs) > 0 {
		check := edited
		f.Errors = merge(parseErrs, check.Normalize())
		return s.renderServiceForm(c, http.StatusBadRequest, co, svc, f)
	}
	ctx := c.Request().Context()
	done := "service-saved"
	if svc.ID == 0 {
		done = "service-created"
		_, err = s.store.CreateService(ctx, co.ID, edited)
	} else {
		_, err = s.store.UpdateService(ctx, edited)
	}
	if err != nil {
		if f, ok := f.withError(err); ok {
			return s.renderServiceForm(c, http.StatusBadRequest, co, svc, f)
		}
		return notFound(err, "This service no longer exists.")
	}
	return c.Redirect(http.StatusSeeOther, "/manage/services?done="+done)
}

func (s *Server) deleteService(c echo.Context) error {
	co, svc, err := s.ownService(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteService(c.Request().Context(), co.ID, svc.ID); err != nil {
		return notFound(err, "This service no longer exists.")
	}
	return c.Redirect(http.StatusSeeOther, "/manage/services?done=service-deleted")
}

// ownService returns the service named in the path, if it is one of the
// member's coop's.
func (s *Server) ownService(c echo.Context) (directory.Coop, directory.Service, error) {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return co, directory.Service{}, err
	}
	id, err := idParam(c, "id")
	if err != nil {
		return co, directory.Service{}, err
	}
	svc, err := s.store.Service(c.Request().Context(), co.ID, id)
	return co, svc, notFound(err, "Your coop has no such service.")
}

func serviceValues(svc directory.Service) url.Values {
	v := url.Values{
		"title": {svc.Title}, "description": {svc.Description}, "category": {svc.Category},
		"tags": {strings.Join(svc.Tags, ", ")}, "pricing": {svc.Pricing}, "currency": {svc.Currency},
	}
	if svc.PriceMin != nil {
		v.Set("price_min", strconv.FormatInt(*svc.PriceMin, 10))
	}
	if svc.PriceMax != nil {
		v.Set("price_max", strconv.FormatInt(*svc.PriceMax, 10))
	}
	if svc.Active {
		v.Set("active", "on")
	}
	return v
}

// serviceFromForm returns svc with the form's values, and the fields that
// are not even of the right kind.
func serviceFromForm(svc directory.Service, v url.Values) (directory.Service, validate.Errors) {
	e := validate.Errors{}
	svc.Title = v.Get("title")
	svc.Description = v.Get("description")
	svc.Category = v.Get("category")
	svc.Tags = validate.SplitList(v.Get("tags"))
	svc.Pricing = v.Get("pricing")
	svc.PriceMin = optionalInt(&e, v, "price_min")
	svc.PriceMax = optionalInt(&e, v, "price_max")
	svc.Currency = strings.TrimSpace(v.Get("currency"))
	svc.Active = checked(v, "active")
	return svc, e
}
