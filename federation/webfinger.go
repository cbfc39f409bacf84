package federation

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// Content types of the discovery documents.
const (
	jrdContentType = "application/jrd+json; charset=utf-8"
	xrdContentType = "application/xrd+xml; charset=utf-8"
)

// profilePageRel is the link relation Mastodon adds for a profile's web page.
const profilePageRel = "http://webfinger.net/rel/profile-page"

// Why a WebFinger resource is not answered with a document.
var (
	errResourceMalformed = errors.New("resource must be acct:user@host or an actor URL of this node")
	errResourceElsewhere = errors.New("no such account on this node")
)

// jrd is a WebFinger answer (RFC 7033).
type jrd struct {
	Subject string    `json:"subject"`
	Aliases []string  `json:"aliases,omitempty"`
	Links   []jrdLink `json:"links"`
}

type jrdLink struct {
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
	Href string `json:"href"`
}

// webfinger answers /.well-known/webfinger for a coop (acct:slug@host, or its
// actor URL, which some servers look up to find the handle) and for the
// instance actor (acct:host@host, as Mastodon names its own).
func (f *Federation) webfinger(c echo.Context) error {
	// Browser-based clients look accounts up from other origins (RFC 7033 §5).
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	resource := c.QueryParam("resource")
	if resource == "" {
		return writeFedError(c, http.StatusBadRequest, "the resource parameter is required")
	}
	user, err := f.resourceUser(resource)
	if errors.Is(err, errResourceMalformed) {
		return writeFedError(c, http.StatusBadRequest, err.Error())
	}
	if err != nil {
		return writeFedError(c, http.StatusNotFound, err.Error())
	}
	host := f.urls.Host()
	if strings.EqualFold(user, host) {
		actor := f.urls.InstanceActor()
		return writeDocument(c, http.StatusOK, jrdContentType, jrd{
			Subject: "acct:" + host + "@" + host,
			Aliases: []string{actor},
			Links: []jrdLink{
				{Rel: "self", Type: "application/activity+json", Href: actor},
				{Rel: profilePageRel, Type: "text/html", Href: f.urls.abs("/")},
			},
		})
	}
	coop, err := f.dir.CoopBySlug(c.Request().Context(), user)
	if errors.Is(err, directory.ErrNotFound) {
		return writeFedError(c, http.StatusNotFound, errResourceElsewhere.Error())
	}
	if err != nil {
		return f.internalError(c, err)
	}
	actor := f.urls.Actor(coop.Slug)
	return writeDocument(c, http.StatusOK, jrdContentType, jrd{
		Subject: "acct:" + coop.Handle(host),
		Aliases: []string{actor},
		Links: []jrdLink{
			{Rel: "self", Type: "application/activity+json", Href: actor},
			{Rel: profilePageRel, Type: "text/html", Href: actor},
		},
	})
}

// resourceUser reads the account name out of a WebFinger resource:
// acct:user@host (also without "acct:" or with a leading @, as people type
// handles), or the URL of an actor served here. The host must be this node's,
// port included, in any case. A user equal to the host names the instance
// actor.
func (f *Federation) resourceUser(resource string) (string, error) {
	lower := strings.ToLower(resource)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		return f.actorURLUser(resource)
	}
	if strings.HasPrefix(lower, "acct:") {
		resource = resource[len("acct:"):]
	}
	resource = strings.TrimPrefix(resource, "@")
	at := strings.LastIndexByte(resource, '@')
	if at <= 0 || at == len(resource)-1 || strings.ContainsAny(resource, " /?#") {
		return "", errResourceMalformed
	}
	user, host := resource[:at], resource[at+1:]
	if !strings.EqualFold(host, f.urls.Host()) {
		return "", errResourceElsewhere
	}
	return strings.ToLower(user), nil
}

// actorURLUser maps the URL of an actor served here to its account name.
func (f *Federation) actorURLUser(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" {
		return "", errResourceMalformed
	}
	if !strings.EqualFold(u.Host, f.urls.Host()) {
		return "", errResourceElsewhere
	}
	path := strings.TrimSuffix(u.Path, "/")
	if path == InstanceActorPath {
		return f.urls.Host(), nil
	}
	slug, ok := strings.CutPrefix(path, ActorPath(""))
	if !ok || slug == "" || strings.Contains(slug, "/") {
		return "", errResourceElsewhere
	}
	return slug, nil
}

// hostMeta answers /.well-known/host-meta (RFC 6415), which older software
// reads to find the WebFinger endpoint.
func (f *Federation) hostMeta(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	template := f.urls.abs("/.well-known/webfinger") + "?resource={uri}"
	doc := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">` + "\n" +
		`  <Link rel="lrdd" template="` + html.EscapeString(template) + `"/>` + "\n" +
		`</XRD>` + "\n"
	return c.Blob(http.StatusOK, xrdContentType, []byte(doc))
}
