package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

type dashboardPage struct {
	Title  string
	Coop   directory.Coop
	Member directory.Member
	Notice string
}

func (s *Server) dashboard(c echo.Context) error {
	m, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "manage", dashboardPage{Title: "Manage " + co.Name, Coop: co, Member: m, Notice: notice(c)})
}

type profilePage struct {
	Title     string
	Coop      directory.Coop
	Form      form
	LogoError string
	Notice    string
}

func (s *Server) profileForm(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	return s.renderProfile(c, http.StatusOK, co, newForm(coopValues(co)), "")
}

func (s *Server) renderProfile(c echo.Context, status int, co directory.Coop, f form, logoErr string) error {
	return s.render(c, status, "profile", profilePage{
		Title: "Edit the profile", Coop: co, Form: f, LogoError: logoErr, Notice: notice(c),
	})
}

// saveProfile saves every profile field but the slug. A rejected form comes
// back as typed, with every problem at once, and nothing is saved.
func (s *Server) saveProfile(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	values, err := formParams(c)
	if err != nil {
		return err
	}
	f := newForm(values)
	edited, parseErrs := coopFromForm(co, values)
	if len(parseErrs) > 0 {
		check := edited
		f.Errors = merge(parseErrs, check.Normalize())
		return s.renderProfile(c, http.StatusBadRequest, co, f, "")
	}
	if _, err := s.store.UpdateCoop(c.Request().Context(), edited); err != nil {
		if f, ok := f.withError(err); ok {
			return s.renderProfile(c, http.StatusBadRequest, co, f, "")
		}
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/profile?done=saved")
}

// coopValues fills the profile form from a coop; lists become comma-separated.
func coopValues(co directory.Coop) url.Values {
	v := url.Values{}
	set := func(k, val string) { v.Set(k, val) }
	set("name", co.Name)
	set("summary", co.Summary)
	set("website", co.Website)
	set("city", co.City)
	set("region", co.Region)
	set("country", co.Country)
	set("regions_served", strings.Join(co.RegionsServed, ", "))
	set("languages", strings.Join(co.Languages, ", "))
	set("legal_form", co.LegalForm)
	set("networks", strings.Join(co.Networks, ", "))
	set("contact_email", co.ContactEmail)
	set("capacity", string(co.Capacity))
	set("skills", strings.Join(co.Skills, ", "))
	for k, n := range map[string]int{"year_founded": co.YearFounded, "worker_owners": co.WorkerOwners, "workers": co.Workers} {
		if n != 0 {
			set(k, strconv.Itoa(n))
		}
	}
	for k, on := range map[string]bool{
		"remote_friendly": co.RemoteFriendly, "approve_followers": co.ApproveFollowers, "discoverable": co.Discoverable,
	} {
		if on {
			set(k, "on")
		}
	}
	return v
}

// coopFromForm returns co with the form's values; the errors are the fields
// that are not even of the right kind (a word where a number belongs).
func coopFromForm(co directory.Coop, v url.Values) (directory.Coop, validate.Errors) {
	e := validate.Errors{}
	co.Name = v.Get("name")
	co.Summary = v.Get("summary")
	co.Website = v.Get("website")
	co.City = v.Get("city")
	co.Region = v.Get("region")
	co.Country = v.Get("country")
	co.RegionsServed = validate.SplitList(v.Get("regions_served"))
	co.RemoteFriendly = checked(v, "remote_friendly")
	co.Languages = validate.SplitList(v.Get("languages"))
	co.YearFounded = intValue(&e, v, "year_founded")
	co.LegalForm = v.Get("legal_form")
	co.WorkerOwners = intValue(&e, v, "worker_owners")
	co.Workers = intValue(&e, v, "workers")
	co.Networks = validate.SplitList(v.Get("networks"))
	co.ContactEmail = v.Get("contact_email")
	co.Capacity = directory.Capacity(v.Get("capacity"))
	co.Skills = validate.SplitList(v.Get("skills"))
	// A browser sends nothing for an unticked checkbox, so absent is false.
	co.ApproveFollowers = checked(v, "approve_followers")
	co.Discoverable = checked(v, "discoverable")
	return co, e
}

// maxLogoUpload is the most a logo upload may send: the image and the rest
// of the form.
const maxLogoUpload = directory.MaxLogoBytes + 64<<10

// uploadLogo replaces the coop's logo. The image is checked by decoding it,
// not by its name or the type the browser claims.
func (s *Server) uploadLogo(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	data, status, msg := readLogo(c)
	if msg == "" {
		var ct string
		ct, err = directory.CheckLogo(data)
		if err == nil {
			if err := s.store.SetLogo(c.Request().Context(), co.ID, ct, data); err != nil {
				return err
			}
			return c.Redirect(http.StatusSeeOther, "/manage/profile?done=logo")
		}
		var ve *validate.Error
		if !errors.As(err, &ve) {
			return err
		}
		status, msg = http.StatusBadRequest, field{Label: "The logo", Error: ve.Fields["logo"]}.Message()
	}
	return s.renderProfile(c, status, co, newForm(coopValues(co)), msg)
}

// readLogo reads the uploaded file, at most one byte more than a logo may
// have so that CheckLogo can tell it is too big. A message means the upload
// itself failed.
func readLogo(c echo.Context) ([]byte, int, string) {
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxLogoUpload)
	fh, err := c.FormFile("logo")
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	case errors.Is(err, http.ErrMissingFile):
		return nil, http.StatusBadRequest, "Choose an image file to upload."
	case err != nil:
		return nil, http.StatusBadRequest, "The upload did not arrive whole. Please choose the file again."
	}
	if fh.Size > directory.MaxLogoBytes {
		return nil, http.StatusRequestEntityTooLarge, tooLarge()
	}
	file, err := fh.Open()
	if err != nil {
		return nil, http.StatusBadRequest, "The upload did not arrive whole. Please choose the file again."
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, directory.MaxLogoBytes+1))
	if err != nil {
		return nil, http.StatusBadRequest, "The upload did not arrive whole. Please choose the file again."
	}
	return data, 0, ""
}

func tooLarge() string {
	return fmt.Sprintf("The logo must be at most %d KiB. Please choose a smaller image.", directory.MaxLogoBytes>>10)
}

func (s *Server) deleteLogo(c echo.Context) error {
	_, co, err := s.memberCoop(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteLogo(c.Request().Context(), co.ID); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/manage/profile?done=logo-deleted")
}
