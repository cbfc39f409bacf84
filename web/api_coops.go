package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

// apiCoopJSON is a coop as the API shows it: the profile, plus the links and
// handle a client would otherwise have to build from the node's address.
type apiCoopJSON struct {
	directory.Coop
	URL     string `json:"url"`
	LogoURL string `json:"logo_url,omitempty"`
	Handle  string `json:"handle"`
}

// apiCoopOut dresses a coop for the API with its public links and handle.
func (s *Server) apiCoopOut(coop directory.Coop) apiCoopJSON {
	out := apiCoopJSON{Coop: coop, URL: s.apiAbsURL("/coops/" + coop.Slug), Handle: coop.Handle(s.cfg.BaseURL.Host)}
	if coop.HasLogo {
		out.LogoURL = s.apiAbsURL("/coops/" + coop.Slug + "/logo")
	}
	return out
}

// apiCoopInput is the body of PUT and PATCH on a coop: every editable field, each
// knowing whether it was sent.
type apiCoopInput struct {
	Slug           apiField[string]             `json:"slug"`
	Name           apiField[string]             `json:"name"`
	Summary        apiField[string]             `json:"summary"`
	Website        apiField[string]             `json:"website"`
	City           apiField[string]             `json:"city"`
	Region         apiField[string]             `json:"region"`
	Country        apiField[string]             `json:"country"`
	RegionsServed  apiField[[]string]           `json:"regions_served"`
	RemoteFriendly apiField[bool]               `json:"remote_friendly"`
	Languages      apiField[[]string]           `json:"languages"`
	YearFounded    apiField[int]                `json:"year_founded"`
	LegalForm      apiField[string]             `json:"legal_form"`
	WorkerOwners   apiField[int]                `json:"worker_owners"`
	Workers        apiField[int]                `json:"workers"`
	Networks       apiField[[]string]           `json:"networks"`
	ContactEmail   apiField[string]             `json:"contact_email"`
	Capacity       apiField[directory.Capacity] `json:"capacity"`
	Skills         apiField[[]string]           `json:"skills"`
	// ApproveFollowers and Discoverable are booleans like RemoteFriendly:
	// PUT without them sets them to false, PATCH without them keeps them.
	ApproveFollowers apiField[bool] `json:"approve_followers"`
	Discoverable     apiField[bool] `json:"discoverable"`

	// Read-only fields are accepted and ignored, so that a coop read with GET
	// can be changed and sent back with PUT as it is.
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
	URL       json.RawMessage `json:"url"`
	LogoURL   json.RawMessage `json:"logo_url"`
	Handle    json.RawMessage `json:"handle"`
}

// apply copies the fields that were sent onto c. The slug is the coop's
// identity (its URLs and fediverse handle), so sending another one is an error
// rather than a rename.
func (in apiCoopInput) apply(c *directory.Coop) error {
	if in.Slug.Set && in.Slug.V != c.Slug {
		return &validate.Error{Fields: validate.Errors{"slug": "cannot change: it is part of the coop's addresses"}}
	}
	apiSet(&c.Name, in.Name)
	apiSet(&c.Summary, in.Summary)
	apiSet(&c.Website, in.Website)
	apiSet(&c.City, in.City)
	apiSet(&c.Region, in.Region)
	apiSet(&c.Country, in.Country)
	apiSet(&c.RegionsServed, in.RegionsServed)
	apiSet(&c.RemoteFriendly, in.RemoteFriendly)
	apiSet(&c.Languages, in.Languages)
	apiSet(&c.YearFounded, in.YearFounded)
	apiSet(&c.LegalForm, in.LegalForm)
	apiSet(&c.WorkerOwners, in.WorkerOwners)
	apiSet(&c.Workers, in.Workers)
	apiSet(&c.Networks, in.Networks)
	apiSet(&c.ContactEmail, in.ContactEmail)
	apiSet(&c.Capacity, in.Capacity)
	apiSet(&c.Skills, in.Skills)
	apiSet(&c.ApproveFollowers, in.ApproveFollowers)
	apiSet(&c.Discoverable, in.Discoverable)
	return nil
}

// apiListCoops lists the coops this node hosts.
func (s *Server) apiListCoops(c echo.Context) error {
	coops, err := s.store.ListCoops(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]apiCoopJSON, len(coops))
	for i, coop := range coops {
		out[i] = s.apiCoopOut(coop)
	}
	return c.JSON(http.StatusOK, out)
}

// apiGetCoop shows one coop's profile.
func (s *Server) apiGetCoop(c echo.Context) error {
	coop, err := s.apiURLCoop(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiCoopOut(coop))
}

// apiPutCoop replaces the whole editable profile: fields left out are cleared,
// and booleans left out (remote_friendly, approve_followers, discoverable) are
// false.
func (s *Server) apiPutCoop(c echo.Context) error {
	return s.apiUpdateCoop(c, func(cur directory.Coop) directory.Coop {
		return directory.Coop{ID: cur.ID, Slug: cur.Slug}
	})
}

// apiPatchCoop changes only the fields sent.
func (s *Server) apiPatchCoop(c echo.Context) error {
	return s.apiUpdateCoop(c, func(cur directory.Coop) directory.Coop { return cur })
}

// apiUpdateCoop applies the body onto the profile that base makes from the
// current one, and saves it. The store validates everything before it writes,
// so a refused update changes nothing.
func (s *Server) apiUpdateCoop(c echo.Context, base func(directory.Coop) directory.Coop) error {
	coop, _, err := s.apiMemberCoop(c)
	if err != nil {
		return err
	}
	var in apiCoopInput
	if err := apiDecode(c, &in); err != nil {
		return err
	}
	next := base(coop)
	if err := in.apply(&next); err != nil {
		return err
	}
	saved, err := s.store.UpdateCoop(c.Request().Context(), next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.apiCoopOut(saved))
}

// apiListMembers lists a coop's members. Only its own members may read it: the
// list holds e-mail addresses and login times, which are not public.
func (s *Server) apiListMembers(c echo.Context) error {
	coop, _, err := s.apiMemberCoop(c)
	if err != nil {
		return err
	}
	members, err := s.store.ListMembers(c.Request().Context(), coop.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, members)
}
