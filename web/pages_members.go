package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// roleOptions are the roles an admin can invite someone with.
var roleOptions = []directory.Option{
	{Value: string(directory.RoleMember), Label: "Member: edits the profile and the services"},
	{Value: string(directory.RoleAdmin), Label: "Admin: also invites and removes members"},
}

type membersPage struct {
	Title       string
	Coop        directory.Coop
	Self        directory.Member
	Members     []directory.Member
	Invitations []directory.Invitation
	Roles       []directory.Option
	Form        form
	InviteLink  string // shown once, right after the invitation is made
	InviteEmail string
	Error       string
	Notice      string
}

// membersPage gathers the members page for the admin's coop.
func (s *Server) membersPage(c echo.Context) (membersPage, error) {
	ctx := c.Request().Context()
	m, co, err := s.memberCoop(c)
	if err != nil {
		return membersPage{}, err
	}
	list, err := s.store.ListMembers(ctx, co.ID)
	if err != nil {
		return membersPage{}, err
	}
	inv, err := s.store.PendingInvitations(ctx, co.ID)
	if err != nil {
		return membersPage{}, err
	}
	return membersPage{
		Title: "Members", Coop: co, Self: m, Members: list, Invitations: inv, Roles: roleOptions,
		Form: newForm(url.Values{"role": {string(directory.RoleMember)}}), Notice: notice(c),
	}, nil
}

func (s *Server) members(c echo.Context) error {
	p, err := s.membersPage(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "members", p)
}

// invite makes an invitation and shows its link: the node sends no mail, so
// the admin passes the link on. It is shown this once; only its hash is kept.
func (s *Server) invite(c echo.Context) error {
	values, err := formParams(c)
	if err != nil {
		return err
	}
	m, _ := currentMember(c)
	email := strings.TrimSpace(values.Get("email"))
	secret, err := s.store.Invite(c.Request().Context(), m.CoopID, m.ID, email, directory.Role(values.Get("role")))
	p, perr := s.membersPage(c)
	if perr != nil {
		return perr
	}
	if err != nil {
		f, ok := newForm(values).withError(err)
		if !ok {
			return err
		}
		p.Form = f
		return s.render(c, http.StatusBadRequest, "members", p)
	}
	p.InviteLink = strings.TrimSuffix(s.cfg.BaseURL.String(), "/") + "/invitations/" + secret
	p.InviteEmail = email
	return s.render(c, http.StatusOK, "members", p)
}

func (s *Server) removeMember(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	m, _ := currentMember(c)
	err = s.store.RemoveMember(c.Request().Context(), m.CoopID, id)
	if errors.Is(err, directory.ErrLastAdmin) {
		p, perr := s.membersPage(c)
		if perr != nil {
			return perr
		}
		p.Error = "This is the coop's only admin, so they cannot be removed. Invite another admin first."
		return s.render(c, http.StatusConflict, "members", p)
	}
	if err != nil {
		return notFound(err, "Your coop has no such member.")
	}
	if id == m.ID {
		// Removing oneself also ended one's sessions.
		s.clearSessionCookie(c)
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return c.Redirect(http.StatusSeeOther, "/manage/members?done=member-removed")
}

type invitationPage struct {
	Title    string
	CoopName string
	Email    string
	Role     string
	Form     form
}

// invitation reads the invitation in the path; a link that is unknown, used
// or expired gets a 404 that says so.
func (s *Server) invitation(c echo.Context) (invitationPage, error) {
	ctx := c.Request().Context()
	inv, err := s.store.Invitation(ctx, c.Param("token"))
	if err != nil {
		return invitationPage{}, notFound(err, "This invitation link does not work: it may have been used already, "+
			"or it has expired. Ask an admin of the coop for a new one.")
	}
	co, err := s.store.CoopByID(ctx, inv.CoopID)
	if err != nil {
		return invitationPage{}, err
	}
	return invitationPage{
		Title: "Join " + co.Name, CoopName: co.Name, Email: inv.Email,
		Role: directory.Label(roleOptions, string(inv.Role)), Form: newForm(nil),
	}, nil
}

func (s *Server) invitationForm(c echo.Context) error {
	p, err := s.invitation(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "invitation", p)
}

// acceptInvitation creates the member and logs them in.
func (s *Server) acceptInvitation(c echo.Context) error {
	p, err := s.invitation(c)
	if err != nil {
		return err
	}
	values, err := formParams(c)
	if err != nil {
		return err
	}
	p.Form = newForm(url.Values{"name": {values.Get("name")}})
	name := strings.TrimSpace(values.Get("name"))
	if name == "" {
		p.Form.Errors.Add("name", "is required")
	}
	confirmPassword(&p.Form.Errors, values)
	if len(p.Form.Errors) == 0 {
		m, err := s.store.AcceptInvitation(c.Request().Context(), c.Param("token"), name, values.Get("password"))
		if err == nil {
			return s.welcome(c, m)
		}
		var ok bool
		if p.Form, ok = p.Form.withError(err); !ok {
			return notFound(err, "This invitation link has just been used.")
		}
		if msg, ok := p.Form.Errors["email"]; ok {
			p.Form.Errors.Add(formError, sentence(msg))
		}
	}
	return s.render(c, http.StatusBadRequest, "invitation", p)
}

// welcome logs a new member in, in place of whoever was logged in before.
func (s *Server) welcome(c echo.Context, m directory.Member) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	if err := s.startSession(c, m); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage")
}
