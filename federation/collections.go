package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
)

// collectionPageSize is the number of items on a collection page.
const collectionPageSize = 20

// pageLoader returns the items of a collection from offset on, at most limit.
type pageLoader func(ctx context.Context, offset, limit int) ([]any, error)

// serveCollection answers for a paged OrderedCollection: without ?page the
// collection with its size and first and last pages, with ?page=N (1-based;
// "true" means 1, as Mastodon writes it) that page. Pages are numbered rather
// than cursored: collections here are small and change rarely, and numbers
// make a page URL readable.
func (f *Federation) serveCollection(c echo.Context, id string, total int, load pageLoader) error {
	pages := max(1, (total+collectionPageSize-1)/collectionPageSize)
	pageURL := func(n int) string { return id + "?page=" + strconv.Itoa(n) }
	param := c.QueryParam("page")
	if param == "" {
		return writeActivityJSON(c, http.StatusOK, f.withContext(map[string]any{
			"id":         id,
			"type":       "OrderedCollection",
			"totalItems": total,
			"first":      pageURL(1),
			"last":       pageURL(pages),
		}))
	}
	n, err := strconv.Atoi(param)
	if param == "true" {
		n, err = 1, nil
	}
	if err != nil || n < 1 {
		return writeFedError(c, http.StatusBadRequest, "page must be a number from 1")
	}
	if n > pages {
		return writeFedError(c, http.StatusNotFound, fmt.Sprintf("there are %d pages", pages))
	}
	offset := (n - 1) * collectionPageSize
	items, err := load(c.Request().Context(), offset, collectionPageSize)
	if err != nil {
		return f.internalError(c, err)
	}
	page := map[string]any{
		"id":           pageURL(n),
		"type":         "OrderedCollectionPage",
		"partOf":       id,
		"totalItems":   total,
		"startIndex":   offset,
		"orderedItems": items,
	}
	if n < pages {
		page["next"] = pageURL(n + 1)
	}
	if n > 1 {
		page["prev"] = pageURL(n - 1)
	}
	return writeActivityJSON(c, http.StatusOK, f.withContext(page))
}

// serveOutbox answers for a coop's outbox: its public activities, newest
// first, as they were sent.
func (f *Federation) serveOutbox(c echo.Context) error {
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	total, err := f.queryCount(c.Request().Context(), `SELECT COUNT(*) FROM activities WHERE coop_id = $1 AND public`, coop.ID)
	if err != nil {
		return f.internalError(c, err)
	}
	return f.serveCollection(c, f.urls.Outbox(coop.Slug), total, func(ctx context.Context, offset, limit int) ([]any, error) {
		bodies, err := f.queryStrings(ctx, `SELECT body FROM activities WHERE coop_id = $1 AND public
			ORDER BY id DESC LIMIT $2 OFFSET $3`, coop.ID, limit, offset)
		if err != nil {
			return nil, err
		}
		items := make([]any, 0, len(bodies))
		for _, b := range bodies {
			var act map[string]any
			d := json.NewDecoder(bytes.NewReader([]byte(b)))
			d.UseNumber() // numbers pass through as written
			if err := d.Decode(&act); err != nil {
				return nil, fmt.Errorf("federation: stored activity: %w", err)
			}
			items = append(items, embedded(act))
		}
		return items, nil
	})
}

// serveFollowers answers for a coop's followers: the ids of the actors whose
// follow was accepted, newest first. Pending requests are not shown.
func (f *Federation) serveFollowers(c echo.Context) error {
	return f.serveActorList(c, f.urls.Followers,
		`SELECT COUNT(*) FROM followers WHERE coop_id = $1 AND state = 'accepted'`,
		`SELECT actor_id FROM followers WHERE coop_id = $1 AND state = 'accepted'
			ORDER BY created_at DESC, actor_id LIMIT $2 OFFSET $3`)
}

// serveFollowing answers for the actors a coop follows and that accepted.
func (f *Federation) serveFollowing(c echo.Context) error {
	return f.serveActorList(c, f.urls.Following,
		`SELECT COUNT(*) FROM following WHERE coop_id = $1 AND state = 'accepted'`,
		`SELECT actor_id FROM following WHERE coop_id = $1 AND state = 'accepted'
			ORDER BY created_at DESC, actor_id LIMIT $2 OFFSET $3`)
}

// serveActorList serves the collection of actor ids of a coop at
// collection(slug), counted and listed by the two queries ($1 the coop, $2 the limit, $3 the offset).
func (f *Federation) serveActorList(c echo.Context, collection func(slug string) string, countQuery, listQuery string) error {
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	total, err := f.queryCount(c.Request().Context(), countQuery, coop.ID)
	if err != nil {
		return f.internalError(c, err)
	}
	return f.serveCollection(c, collection(coop.Slug), total, func(ctx context.Context, offset, limit int) ([]any, error) {
		ids, err := f.queryStrings(ctx, listQuery, coop.ID, limit, offset)
		items := make([]any, len(ids))
		for i, id := range ids {
			items[i] = id
		}
		return items, err
	})
}

// serveServices answers for a coop's active services, embedded whole, newest
// first: a peer that follows a coop reads them here once, then keeps them
// current from the activities.
func (f *Federation) serveServices(c echo.Context) error {
	coop, ok, err := f.coopParam(c)
	if !ok {
		return err
	}
	svcs, err := f.dir.ListServices(c.Request().Context(), coop.ID, false)
	if err != nil {
		return f.internalError(c, err)
	}
	return f.serveCollection(c, f.urls.Services(coop.Slug), len(svcs), func(_ context.Context, offset, limit int) ([]any, error) {
		page := svcs[offset:min(offset+limit, len(svcs))]
		items := make([]any, len(page))
		for i, svc := range page {
			items[i] = f.serviceObject(coop, svc)
		}
		return items, nil
	})
}

// serveInstanceOutbox answers for the instance actor's outbox, which stays
// empty: the instance actor only signs fetches.
func (f *Federation) serveInstanceOutbox(c echo.Context) error {
	return f.serveCollection(c, f.urls.InstanceActor()+"/outbox", 0, func(context.Context, int, int) ([]any, error) {
		return []any{}, nil
	})
}

// queryCount runs a COUNT query.
func (f *Federation) queryCount(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	if err := f.db.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("federation: count: %w", err)
	}
	return n, nil
}

// queryStrings runs a query of one text column.
func (f *Federation) queryStrings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := f.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("federation: list: %w", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("federation: list: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("federation: list: %w", err)
	}
	return out, nil
}
