package federation

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// NodeInfo schema ids, which are also the link relations of
// /.well-known/nodeinfo.
const (
	nodeInfo20 = "http://nodeinfo.diaspora.software/ns/schema/2.0"
	nodeInfo21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"
)

// nodeInfoSoftware is the name NodeInfo reports: lower-case letters, digits
// and hyphens only, as the schema requires.
const nodeInfoSoftware = "coopnet"

// nodeInfoRepository is where the source is, for NodeInfo 2.1.
const nodeInfoRepository = "https://github.com/coopnet/coopnet"

// nodeInfoLinks answers /.well-known/nodeinfo with the two schema versions
// served: 2.0 is what most crawlers read, 2.1 adds the repository.
func (f *Federation) nodeInfoLinks(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	return writeDocument(c, http.StatusOK, echo.MIMEApplicationJSON, map[string]any{
		"links": []map[string]string{
			{"rel": nodeInfo20, "href": f.urls.abs("/nodeinfo/2.0")},
			{"rel": nodeInfo21, "href": f.urls.abs("/nodeinfo/2.1")},
		},
	})
}

// nodeInfo20Doc answers /nodeinfo/2.0.
func (f *Federation) nodeInfo20Doc(c echo.Context) error { return f.serveNodeInfo(c, "2.0") }

// nodeInfo21Doc answers /nodeinfo/2.1.
func (f *Federation) nodeInfo21Doc(c echo.Context) error { return f.serveNodeInfo(c, "2.1") }

// serveNodeInfo writes the NodeInfo document of the given schema version.
// Users are the coops hosted here (the actors people follow; the members who
// run them are not fediverse accounts), posts are their active services.
// Every coop counts as active: a coop's profile is its activity.
func (f *Federation) serveNodeInfo(c echo.Context, version string) error {
	ctx := c.Request().Context()
	coops, services, name, err := f.nodeCounts(ctx)
	if err != nil {
		return f.internalError(c, err)
	}
	software := map[string]any{"name": nodeInfoSoftware, "version": f.cfg.Version}
	if version == "2.1" {
		software["repository"] = nodeInfoRepository
		software["homepage"] = nodeInfoRepository
	}
	doc := map[string]any{
		"version":           version,
		"software":          software,
		"protocols":         []string{"activitypub"},
		"services":          map[string]any{"inbound": []string{}, "outbound": []string{}},
		"openRegistrations": false,
		"usage": map[string]any{
			"users":      map[string]int{"total": coops, "activeMonth": coops, "activeHalfyear": coops},
			"localPosts": services,
		},
		"metadata": map[string]any{"nodeName": name},
	}
	c.Response().Header().Set(echo.HeaderAccessControlAllowOrigin, "*")
	ct := `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/` + version + `#"`
	return writeDocument(c, http.StatusOK, ct, doc)
}

// nodeCounts counts the coops hosted here and their active services, and
// names the node: after its coop when it hosts one, after its host otherwise.
func (f *Federation) nodeCounts(ctx context.Context) (coops, services int, name string, err error) {
	list, err := f.dir.ListCoops(ctx)
	if err != nil {
		return 0, 0, "", err
	}
	for _, coop := range list {
		svcs, err := f.dir.ListServices(ctx, coop.ID, false)
		if err != nil {
			return 0, 0, "", err
		}
		services += len(svcs)
	}
	name = f.urls.Host()
	if len(list) == 1 {
		name = list[0].Name
	}
	return len(list), services, name, nil
}
