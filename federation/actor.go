package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/markup"
)

// ServeActor answers a request for a coop's actor document. The web package
// owns /coops/:slug (the profile page) and calls this when
// IsActivityRequest says the client wants ActivityPub.
func (f *Federation) ServeActor(c echo.Context) error {
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	key, err := f.keys.For(ctx, ActorPath(coop.Slug))
	if err != nil {
		return f.internalError(c, err)
	}
	logo, err := readLogoInfo(ctx, readPool{f.db}, coop)
	if err != nil {
		return f.internalError(c, err)
	}
	return writeActivityJSON(c, http.StatusOK, f.withContext(f.actorDocument(coop, key.PublicPEM, logo)))
}

// serveInstanceActor answers for the node's own actor, which signs the
// fetches not made on behalf of one coop (GoToSocial refuses unsigned ones).
func (f *Federation) serveInstanceActor(c echo.Context) error {
	key, err := f.keys.For(c.Request().Context(), InstanceActorPath)
	if err != nil {
		return f.internalError(c, err)
	}
	return writeActivityJSON(c, http.StatusOK, f.withContext(f.instanceActorDocument(key.PublicPEM)))
}

// coopParam looks up the local coop named by the :slug parameter. When ok is
// false the answer (404 or 500) is already written and err is what the
// handler returns.
func (f *Federation) coopParam(c echo.Context) (coop directory.Coop, ok bool, err error) {
	coop, err = f.dir.CoopBySlug(c.Request().Context(), c.Param("slug"))
	if errors.Is(err, directory.ErrNotFound) {
		return coop, false, writeFedError(c, http.StatusNotFound, "there is no coop at this address on this node")
	}
	if err != nil {
		return coop, false, f.internalError(c, err)
	}
	return coop, true, nil
}

// actorDocument is a coop as an Organization actor, without @context (see
// withContext). It fills what Mastodon shows (name, summary, icon, profile
// fields) and, for coopnet peers, the profile's facts as data.
func (f *Federation) actorDocument(coop directory.Coop, publicPEM string, logo *logoInfo) map[string]any {
	id := f.urls.Actor(coop.Slug)
	updated := coop.UpdatedAt
	doc := map[string]any{
		"id":                id,
		"type":              "Organization",
		"preferredUsername": coop.Slug,
		"name":              coop.Name,
		"url":               id,
		"inbox":             f.urls.Inbox(coop.Slug),
		"outbox":            f.urls.Outbox(coop.Slug),
		"followers":         f.urls.Followers(coop.Slug),
		"following":         f.urls.Following(coop.Slug),
		"services":          f.urls.Services(coop.Slug),
		"endpoints":         map[string]any{"sharedInbox": f.urls.SharedInbox()},
		"publicKey": map[string]any{
			"id":           f.urls.KeyID(coop.Slug),
			"owner":        id,
			"publicKeyPem": publicPEM,
		},
		"manuallyApprovesFollowers": coop.ApproveFollowers,
		"discoverable":              coop.Discoverable,
		// Mastodon's indexable (posts may be found by full-text search)
		// follows the coop's one choice about being listed.
		"indexable":  coop.Discoverable,
		"published":  apTime(coop.CreatedAt),
		"attachment": profileFields(coop),
	}
	if coop.Summary != "" {
		doc["summary"] = markup.Render(coop.Summary)
		// The Markdown the coop wrote, so that a coopnet peer keeps the
		// original instead of turning HTML back into text.
		doc["source"] = map[string]any{"content": coop.Summary, "mediaType": "text/markdown"}
	}
	if logo != nil {
		doc["icon"] = map[string]any{
			"type":      "Image",
			"mediaType": logo.ContentType,
			// The logo's URL never changes, and Mastodon downloads an
			// avatar again only when its URL does: the version makes a
			// new logo a new URL (the logo route ignores the query).
			"url": f.urls.Logo(coop.Slug) + "?v=" + strconv.FormatInt(logo.UpdatedAt.Unix(), 10),
		}
		if logo.UpdatedAt.After(updated) {
			updated = logo.UpdatedAt
		}
	}
	doc["updated"] = apTime(updated)
	if f.refs != nil {
		// The referral keys (referrals_keys.go).
		doc["coopnet:keys"] = f.urls.ReferralKeys(coop.Slug)
	}
	for k, v := range coopFacts(coop) {
		doc[k] = v
	}
	return doc
}

// coopFacts are the profile's data in schema.org terms (and coopnet's where
// schema.org has none), for peers that keep a directory: profile fields are
// words for people, these are values for programs.
func coopFacts(coop directory.Coop) map[string]any {
	facts := map[string]any{
		"remoteFriendly": coop.RemoteFriendly,
		"capacity":       string(coop.Capacity),
	}
	if coop.City != "" || coop.Region != "" || coop.Country != "" {
		addr := map[string]any{"type": "PostalAddress"}
		setIf(addr, "addressLocality", coop.City)
		setIf(addr, "addressRegion", coop.Region)
		setIf(addr, "addressCountry", coop.Country)
		facts["address"] = addr
	}
	setList(facts, "areaServed", coop.RegionsServed)
	setList(facts, "knowsLanguage", coop.Languages)
	setList(facts, "knowsAbout", coop.Skills)
	setList(facts, "memberOf", coop.Networks)
	if coop.YearFounded != 0 {
		facts["foundingDate"] = strconv.Itoa(coop.YearFounded)
	}
	if coop.WorkerOwners > 0 {
		facts["workerOwners"] = coop.WorkerOwners
	}
	if coop.Workers > 0 {
		facts["numberOfEmployees"] = coop.Workers
	}
	setIf(facts, "legalForm", coop.LegalForm)
	setIf(facts, "email", coop.ContactEmail)
	setIf(facts, "sameAs", coop.Website)
	return facts
}

// profileFields are the PropertyValue attachments Mastodon and GoToSocial
// show on a profile, in words; values are HTML, escaped here.
func profileFields(coop directory.Coop) []any {
	fields := []any{}
	add := func(name, valueHTML string) {
		if valueHTML != "" {
			fields = append(fields, map[string]any{"type": "PropertyValue", "name": name, "value": valueHTML})
		}
	}
	loc := coop.Location()
	if coop.RemoteFriendly {
		loc = strings.TrimPrefix(loc+", remote work welcome", ", ")
	}
	add("Location", html.EscapeString(loc))
	add("Languages", html.EscapeString(strings.Join(coop.LanguageNames(), ", ")))
	add("Skills", html.EscapeString(strings.Join(coop.Skills, ", ")))
	add("Accepting work", html.EscapeString(directory.Label(directory.Capacities, string(coop.Capacity))))
	if coop.LegalForm != "" {
		add("Legal form", html.EscapeString(directory.Label(directory.LegalForms, coop.LegalForm)))
	}
	if coop.WorkerOwners > 0 {
		add("Worker-owners", strconv.Itoa(coop.WorkerOwners))
	}
	if coop.Website != "" {
		add("Website", htmlLink(coop.Website, displayURL(coop.Website), "me nofollow noopener noreferrer"))
	}
	if coop.ContactEmail != "" {
		add("Contact", htmlLink("mailto:"+coop.ContactEmail, coop.ContactEmail, ""))
	}
	return fields
}

// instanceActorDocument is the node's own actor. Its inbox is the shared
// inbox: nobody follows it, but an actor must name an inbox.
func (f *Federation) instanceActorDocument(publicPEM string) map[string]any {
	id := f.urls.InstanceActor()
	return map[string]any{
		"id":                id,
		"type":              "Application",
		"preferredUsername": f.urls.Host(),
		"name":              f.urls.Host(),
		"url":               f.urls.abs("/"),
		"inbox":             f.urls.SharedInbox(),
		"outbox":            id + "/outbox",
		"endpoints":         map[string]any{"sharedInbox": f.urls.SharedInbox()},
		"publicKey": map[string]any{
			"id":           f.urls.InstanceKeyID(),
			"owner":        id,
			"publicKeyPem": publicPEM,
		},
		"manuallyApprovesFollowers": true,
		"discoverable":              false,
		"indexable":                 false,
	}
}

// logoInfo is what the actor says of a coop's logo.
type logoInfo struct {
	ContentType string
	UpdatedAt   time.Time
}

// rowQuerier is a transaction or the read pool: the actor is built inside
// the directory's transaction when published, and outside it when served.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readPool adapts db.DB's read pool to rowQuerier.
type readPool struct{ db *db.DB }

// QueryRowContext implements rowQuerier.
func (r readPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.db.QueryRow(ctx, query, args...)
}

// readLogoInfo reads the logo's type and date (never its bytes), or nil when
// the coop has none. It reads the directory's table directly because the
// directory has no call that reads inside a caller's transaction, where a
// just-uploaded logo is only visible.
func readLogoInfo(ctx context.Context, q rowQuerier, coop directory.Coop) (*logoInfo, error) {
	if !coop.HasLogo {
		return nil, nil
	}
	var l logoInfo
	err := q.QueryRowContext(ctx, `SELECT content_type, updated_at FROM coop_logos WHERE coop_id = $1`, coop.ID).
		Scan(&l.ContentType, &l.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("federation: read logo: %w", err)
	}
	l.UpdatedAt = l.UpdatedAt.UTC()
	return &l, nil
}

// apTime formats a time as ActivityStreams dates are written (xsd:dateTime,
// UTC, whole seconds: what every server parses).
func apTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func setIf(m map[string]any, key, value string) {
	if value != "" {
		m[key] = value
	}
}

func setList(m map[string]any, key string, values []string) {
	if len(values) > 0 {
		m[key] = values
	}
}

// htmlLink is an escaped <a> element.
func htmlLink(href, text, rel string) string {
	attrs := `href="` + html.EscapeString(href) + `"`
	if rel != "" {
		attrs += ` rel="` + rel + `" target="_blank"`
	}
	return "<a " + attrs + ">" + html.EscapeString(text) + "</a>"
}

// displayURL is a URL as people read it: without scheme and final slash.
func displayURL(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	return strings.TrimSuffix(u, "/")
}
