package federation

import (
	"net/url"
	"strconv"
	"strings"
)

// URLs names every ActivityPub id this node serves. They are built from the
// base URL fixed at setup, and so never change.
type URLs struct {
	Base *url.URL
}

func (u URLs) abs(path string) string {
	return strings.TrimSuffix(u.Base.String(), "/") + path
}

// Host is the node's host (with port when not the default), as used in handles.
func (u URLs) Host() string { return u.Base.Host }

// Actor is the id of a local coop's actor; also its profile page.
func (u URLs) Actor(slug string) string { return u.abs(ActorPath(slug)) }

// ActorPath is the path of a local coop's actor, also the owner name of its key.
func ActorPath(slug string) string { return "/coops/" + slug }

// KeyID is the id of a coop's public key.
func (u URLs) KeyID(slug string) string { return u.Actor(slug) + "#main-key" }

// Inbox, Outbox, Followers, Following and Services are a coop's collections.
func (u URLs) Inbox(slug string) string     { return u.Actor(slug) + "/inbox" }
func (u URLs) Outbox(slug string) string    { return u.Actor(slug) + "/outbox" }
func (u URLs) Followers(slug string) string { return u.Actor(slug) + "/followers" }
func (u URLs) Following(slug string) string { return u.Actor(slug) + "/following" }
func (u URLs) Services(slug string) string  { return u.Actor(slug) + "/services" }

// Service is the id of a coop's service object; also its page.
func (u URLs) Service(slug string, id int64) string {
	return u.Actor(slug) + "/services/" + strconv.FormatInt(id, 10)
}

// Logo is the URL of a coop's uploaded logo.
func (u URLs) Logo(slug string) string { return u.Actor(slug) + "/logo" }

// SharedInbox receives activities for every coop on the node.
func (u URLs) SharedInbox() string { return u.abs("/inbox") }

// InstanceActor is the node's own actor, which signs fetches that are not made
// on behalf of one coop.
func (u URLs) InstanceActor() string { return u.abs(InstanceActorPath) }

// InstanceActorPath is the path of the node's own actor.
const InstanceActorPath = "/actor"

// InstanceKeyID is the id of the instance actor's key.
func (u URLs) InstanceKeyID() string { return u.InstanceActor() + "#main-key" }

// Activity is the id of an activity published here.
func (u URLs) Activity(id string) string { return u.abs("/activities/" + id) }

// Context is the URL of the node's JSON-LD context for coopnet's own terms.
func (u URLs) Context() string { return u.abs("/ns") }
