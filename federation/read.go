package federation

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// registerRead adds the read-only federation routes: discovery, the instance
// actor, the coops' collections, published activities and the context
// document. /coops/:slug and /coops/:slug/services/:id are not among them:
// the web package serves those pages and hands ActivityPub requests to
// ServeActor and ServeService.
func (f *Federation) registerRead(e *echo.Echo) {
	e.GET("/.well-known/webfinger", f.webfinger)
	e.GET("/.well-known/host-meta", f.hostMeta)
	e.GET("/.well-known/nodeinfo", f.nodeInfoLinks)
	e.GET("/nodeinfo/2.0", f.nodeInfo20Doc)
	e.GET("/nodeinfo/2.1", f.nodeInfo21Doc)
	e.GET(InstanceActorPath, f.serveInstanceActor)
	e.GET(InstanceActorPath+"/outbox", f.serveInstanceOutbox)
	e.GET("/coops/:slug/outbox", f.serveOutbox)
	e.GET("/coops/:slug/followers", f.serveFollowers)
	e.GET("/coops/:slug/following", f.serveFollowing)
	e.GET("/coops/:slug/services", f.serveServices)
	e.GET("/coops/:slug/keys.json", f.serveReferralKeys)
	e.GET("/activities/:id", f.serveActivity)
	e.GET("/activities/:id"+noteSuffix, f.serveNote)
	e.GET("/ns", f.serveNS)
}

// IsActivityRequest reports whether r asks for ActivityPub JSON rather than a
// page: its Accept header names application/activity+json or
// application/ld+json (with the ActivityStreams profile or any other; nobody
// asks for JSON-LD at a profile URL wanting something else), without q=0.
// Browsers never send either, so they get HTML at the same URL.
func IsActivityRequest(r *http.Request) bool {
	for _, header := range r.Header.Values("Accept") {
		for _, part := range strings.Split(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v <= 0 {
					continue
				}
			}
			if mt == "application/activity+json" || mt == "application/ld+json" {
				return true
			}
		}
	}
	return false
}
