package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/internal/validate"
)

// maxAPIBody is the largest JSON body the API reads. A whole coop profile is a
// few KiB; the limit keeps a client from making the node buffer megabytes.
const maxAPIBody = 64 << 10

// apiField is one member of a request body that remembers whether the client sent
// it. PATCH needs that to tell "leave it" (absent) from "clear it" (null or
// empty), which a plain pointer cannot: encoding/json leaves a pointer nil for
// both. UnmarshalJSON is called for null too, so null counts as sent.
type apiField[T any] struct {
	Set bool
	V   T
}

// UnmarshalJSON records that the field was sent and decodes its value.
func (f *apiField[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	return json.Unmarshal(b, &f.V)
}

// apiSet copies a sent field into dst and leaves dst alone otherwise.
func apiSet[T any](dst *T, f apiField[T]) {
	if f.Set {
		*dst = f.V
	}
}

// apiDecode reads the request body into dst, a pointer to a struct. It
// answers 415 unless the body is declared as JSON, 413 past maxAPIBody, and 400
// for malformed JSON, unknown fields, wrong types and trailing data, naming the
// field when there is one.
func apiDecode(c echo.Context, dst any) error {
	body, err := apiReadBody(c.Request())
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return apiJSONError(err, body, dst)
	}
	if _, err := dec.Token(); err != io.EOF {
		return echo.NewHTTPError(http.StatusBadRequest, "the request body must hold one JSON object and nothing after it")
	}
	if e := apiNULFields(body); len(e) > 0 {
		return &validate.Error{Fields: e}
	}
	return nil
}

// apiReadBody returns the body of a JSON request, at most maxAPIBody long, that
// at least starts as a JSON object.
func apiReadBody(r *http.Request) ([]byte, error) {
	if err := apiRequireJSON(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAPIBody+1))
	if err != nil {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "could not read the request body")
	}
	if len(body) > maxAPIBody {
		return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the request body must be at most %d KiB", maxAPIBody>>10))
	}
	// Checked here, not left to the decoder: it takes null for an empty object,
	// and a PUT of null would then clear the whole profile.
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] != '{' {
		return nil, echo.NewHTTPError(http.StatusBadRequest, "the request body must be a JSON object")
	}
	return body, nil
}

// apiRequireJSON refuses bodies not declared as application/json: a form post or
// plain text aimed at the API is a client mistake worth a clear answer.
func apiRequireJSON(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"the request body must be JSON, sent with Content-Type: application/json")
	}
	return nil
}

// apiJSONError turns what encoding/json reports into a 400 that says what to fix.
func apiJSONError(err error, body []byte, dst any) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return echo.NewHTTPError(http.StatusBadRequest, "the request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON: the body ends before the JSON does")
	case errors.As(err, &syn):
		return echo.NewHTTPError(http.StatusBadRequest,
			fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: ")))
	case errors.As(err, &typ):
		return &validate.Error{Fields: validate.Errors{typ.Field: "must be " + apiDescribe(apiFieldType(dst, typ.Field))}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &validate.Error{Fields: apiUnknownFields(err, body, dst)}
	}
	return echo.NewHTTPError(http.StatusBadRequest, "malformed JSON: "+strings.TrimPrefix(err.Error(), "json: "))
}

// apiUnknownFields names every field of body that dst does not have. The decoder
// stops at the first; telling them all saves the client a round trip per typo.
func apiUnknownFields(err error, body []byte, dst any) validate.Errors {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(body, &m)
	e := validate.Errors{}
	for k := range m {
		if apiFieldType(dst, k) == nil {
			e[k] = "unknown field"
		}
	}
	if len(e) == 0 {
		// Should the two readings ever disagree, the decoder's own word is right.
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		e[name] = "unknown field"
	}
	return e
}

// apiFieldType returns the Go type behind the JSON name in dst (the T of an
// apiField[T]), or nil when dst has no such field.
func apiFieldType(dst any, name string) reflect.Type {
	t := reflect.TypeOf(dst).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !strings.EqualFold(tag, name) {
			continue
		}
		if f.Type.Kind() != reflect.Struct {
			return f.Type
		}
		if v, ok := f.Type.FieldByName("V"); ok {
			return v.Type
		}
		return f.Type
	}
	return nil
}

// apiDescribe says in words what JSON a Go type accepts.
func apiDescribe(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return apiDescribe(t.Elem()) + " or null"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Slice:
		return "a list of " + apiPlural(apiDescribe(t.Elem()))
	}
	return "of another type"
}

func apiPlural(s string) string {
	switch s {
	case "a string":
		return "strings"
	case "a whole number":
		return "whole numbers"
	}
	return "values"
}

// apiNULFields names the fields whose text holds a NUL character ("\u0000").
// JSON allows it, but PostgreSQL refuses it in text columns: letting it through
// would turn a client's input into a 500 on one database and not the other.
func apiNULFields(body []byte) validate.Errors {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	e := validate.Errors{}
	for k, v := range m {
		if apiHasNUL(v) {
			e[k] = "must not contain the NUL character"
		}
	}
	return e
}

func apiHasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, e := range v {
			if apiHasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || apiHasNUL(e) {
				return true
			}
		}
	}
	return false
}
