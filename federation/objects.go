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
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/markup"
)

// ServeService answers a request for a service object. The web package owns
// /coops/:slug/services/:id (the service's page) and calls this when
// IsActivityRequest says the client wants ActivityPub. A service that is
// inactive, or deleted after it was published, answers 410 with a Tombstone,
// as its Delete said; one never heard of answers 404.
func (f *Federation) ServeService(c echo.Context) error {
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return writeFedError(c, http.StatusNotFound, "there is no such service")
	}
	ctx := c.Request().Context()
	objectID := f.urls.Service(coop.Slug, id)
	svc, err := f.dir.Service(ctx, coop.ID, id)
	switch {
	case err == nil && svc.Active:
		return writeActivityJSON(c, http.StatusOK, f.withContext(f.serviceObject(coop, svc)))
	case err == nil:
		return writeActivityJSON(c, http.StatusGone, f.withContext(tombstone(objectID, ServiceType, svc.UpdatedAt)))
	case !errors.Is(err, directory.ErrNotFound):
		return f.internalError(c, err)
	}
	deleted, found, err := f.deletedAt(ctx, coop.ID, objectID)
	if err != nil {
		return f.internalError(c, err)
	}
	if found {
		return writeActivityJSON(c, http.StatusGone, f.withContext(tombstone(objectID, ServiceType, deleted)))
	}
	return writeFedError(c, http.StatusNotFound, "there is no such service")
}

// deletedAt tells when the coop published a Delete of objectID, if it did.
func (f *Federation) deletedAt(ctx context.Context, coopID int64, objectID string) (time.Time, bool, error) {
	var at time.Time
	err := f.db.QueryRow(ctx, `SELECT published_at FROM activities
		WHERE coop_id = $1 AND object_id = $2 AND type = 'Delete' ORDER BY id DESC LIMIT 1`, coopID, objectID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("federation: read deletes: %w", err)
	}
	return at.UTC(), true, nil
}

// serviceObject is a service as a schema.org Service (see ServiceType, and
// FEDERATION.md for why not a FEP-0837 Proposal), without @context. content is the rendered
// description; source keeps the Markdown for coopnet peers.
func (f *Federation) serviceObject(coop directory.Coop, svc directory.Service) map[string]any {
	id := f.urls.Service(coop.Slug, svc.ID)
	obj := map[string]any{
		"id":           id,
		"type":         ServiceType,
		"name":         svc.Title,
		"url":          id,
		"attributedTo": f.urls.Actor(coop.Slug),
		"published":    apTime(svc.CreatedAt),
		"updated":      apTime(svc.UpdatedAt),
		"to":           []string{PublicAddress},
		"cc":           []string{f.urls.Followers(coop.Slug)},
		"serviceType":  svc.Category,
		"pricingModel": svc.Pricing,
	}
	if svc.Description != "" {
		obj["content"] = markup.Render(svc.Description)
		obj["mediaType"] = "text/html"
		obj["source"] = map[string]any{"content": svc.Description, "mediaType": "text/markdown"}
	}
	setList(obj, "keywords", svc.Tags)
	if price := priceSpecification(svc); price != nil {
		obj["priceSpecification"] = price
	}
	return obj
}

// priceSpecification is the service's price range in whole units of its
// currency, or nil when it names neither prices nor a currency.
func priceSpecification(svc directory.Service) map[string]any {
	if svc.PriceMin == nil && svc.PriceMax == nil && svc.Currency == "" {
		return nil
	}
	p := map[string]any{"type": "PriceSpecification"}
	if svc.PriceMin != nil {
		p["minPrice"] = *svc.PriceMin
	}
	if svc.PriceMax != nil {
		p["maxPrice"] = *svc.PriceMax
	}
	setIf(p, "priceCurrency", svc.Currency)
	return p
}

// tombstone stands for an object that is gone, in a Delete and at its id.
func tombstone(id, formerType string, deleted time.Time) map[string]any {
	return map[string]any{
		"id":         id,
		"type":       "Tombstone",
		"formerType": formerType,
		"deleted":    apTime(deleted),
	}
}

// noteExcerptLength bounds the description quoted in an announcement.
const noteExcerptLength = 280

// serviceNote announces a new service as a Note, because Mastodon (and most
// of the fediverse) shows nothing for a Service: followers there see a post
// with a link to the service's page instead.
func (f *Federation) serviceNote(noteID string, coop directory.Coop, svc directory.Service, published time.Time) map[string]any {
	link := f.urls.Service(coop.Slug, svc.ID)
	content := "New service: " + htmlLink(link, svc.Title, "")
	if excerpt := shorten(markup.Plain(svc.Description), noteExcerptLength); excerpt != "" {
		content += " — " + html.EscapeString(excerpt)
	}
	content = "<p>" + content + "</p>"
	return map[string]any{
		"id":           noteID,
		"type":         "Note",
		"attributedTo": f.urls.Actor(coop.Slug),
		"content":      content,
		"url":          link,
		"published":    apTime(published),
		"to":           []string{PublicAddress},
		"cc":           []string{f.urls.Followers(coop.Slug)},
	}
}

// shorten cuts s to at most n characters at a word boundary, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	cut := string(r)
	if i := strings.LastIndexByte(cut, ' '); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}
