package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/validate"
)

// formParams returns the posted form with every value made safe to store:
// invalid UTF-8 and NUL bytes, which no browser sends and PostgreSQL refuses,
// are replaced, so they become a validation message at worst, never a 500.
func formParams(c echo.Context) (url.Values, error) {
	values, err := c.FormParams()
	if err != nil {
		return nil, badForm(err)
	}
	for k, vs := range values {
		for i, v := range vs {
			vs[i] = strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "\uFFFD")
		}
		values[k] = vs
	}
	return values, nil
}

// badForm is the answer to a body that is not a form at all.
func badForm(err error) error {
	return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read. Please try again.").SetInternal(err)
}

// formError is the key of a message about the form as a whole rather than
// one field, such as a failed login.
const formError = "_form"

// form is what a visitor typed and what is wrong with it, so that a rejected
// form comes back filled in, with a message next to each field.
type form struct {
	Values url.Values
	Errors validate.Errors
}

// newForm returns a form holding values and no errors.
func newForm(values url.Values) form {
	if values == nil {
		values = url.Values{}
	}
	return form{Values: values, Errors: validate.Errors{}}
}

// withError returns f with the messages of err when err is a validation
// error; ok is false for any other error, which the caller returns as is.
func (f form) withError(err error) (form, bool) {
	var ve *validate.Error
	if !errors.As(err, &ve) {
		return f, false
	}
	for k, v := range ve.Fields {
		f.Errors.Add(k, v)
	}
	return f, true
}

// Get returns the value typed into a field.
func (f form) Get(name string) string { return f.Values.Get(name) }

// FormError is the message about the whole form, if any.
func (f form) FormError() string { return f.Errors[formError] }

// Invalid reports whether any field has a message: the page then starts
// with a summary that screen readers announce.
func (f form) Invalid() bool {
	for k := range f.Errors {
		if k != formError {
			return true
		}
	}
	return false
}

// Field describes a text-like input for the "field" template. Flags are
// "required", "hint:...", "autocomplete:...", "numeric" and "rows:N".
func (f form) Field(name, label, typ string, flags ...string) field {
	fl := field{Name: name, Label: label, Type: typ, Value: f.Get(name), Error: f.Errors[name]}
	for _, flag := range flags {
		key, val, _ := strings.Cut(flag, ":")
		switch key {
		case "required":
			fl.Required = true
		case "hint":
			fl.Hint = val
		case "autocomplete":
			fl.Autocomplete = val
		case "numeric":
			fl.Numeric = true
		case "rows":
			fl.Rows, _ = strconv.Atoi(val)
		}
	}
	return fl
}

// Select describes a drop-down list; a "blank:Label" flag adds an empty
// first choice.
func (f form) Select(name, label string, opts []directory.Option, flags ...string) field {
	fl := f.Field(name, label, "select", flags...)
	for _, flag := range flags {
		if l, ok := strings.CutPrefix(flag, "blank:"); ok {
			opts = append([]directory.Option{{Value: "", Label: l}}, opts...)
		}
	}
	fl.Options = opts
	if strings.HasPrefix(fl.Error, "must be one of") {
		fl.Error = "must be one of the choices in the list"
	}
	return fl
}

// Checkbox describes a checkbox, ticked when the field has a value.
func (f form) Checkbox(name, label string, flags ...string) field {
	fl := f.Field(name, label, "checkbox", flags...)
	fl.Checked = fl.Value != ""
	return fl
}

// field is one labelled form control, rendered by the "field" template in
// layout.html with its hint and error tied to it for screen readers.
type field struct {
	Name, Label, Type, Value, Error, Hint, Autocomplete string
	Required, Numeric, Checked                          bool
	Rows                                                int
	Options                                             []directory.Option
}

// ID is the control's id, which its label, hint and error refer to.
func (f field) ID() string { return "f-" + f.Name }

// DescribedBy lists the ids of the hint and the error, for aria-describedby.
func (f field) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID()+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID()+"-error")
	}
	return strings.Join(ids, " ")
}

// Message is the error as a sentence. The domain's messages are either a
// predicate ("is required", "must be ...") that follows the field's name, or
// a sentence of their own.
func (f field) Message() string {
	if f.Error == "" {
		return ""
	}
	if strings.HasPrefix(f.Error, "is ") || strings.HasPrefix(f.Error, "must ") {
		return f.Label + " " + f.Error + "."
	}
	return sentence(f.Error)
}

// sentence capitalises msg and ends it with a full stop.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// intValue reads an optional whole number; blank is 0.
func intValue(e *validate.Errors, values url.Values, name string) int {
	v := strings.TrimSpace(values.Get(name))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.Add(name, "must be a whole number, such as 12")
	}
	return n
}

// optionalInt reads an optional whole amount; blank is nil.
func optionalInt(e *validate.Errors, values url.Values, name string) *int64 {
	v := strings.TrimSpace(values.Get(name))
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		e.Add(name, "must be a whole amount without cents, such as 80")
		return nil
	}
	return &n
}

// checked reads a checkbox.
func checked(values url.Values, name string) bool { return values.Get(name) != "" }

// merge adds the messages of err (a *validate.Error) to e, keeping e's own.
func merge(e validate.Errors, err error) validate.Errors {
	var ve *validate.Error
	if errors.As(err, &ve) {
		for k, v := range ve.Fields {
			e.Add(k, v)
		}
	}
	return e
}
