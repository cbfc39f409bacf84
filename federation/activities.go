package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// newActivity builds an activity of coop's, ready to store and send: a fresh
// dereferenceable id, the actor, the object (embedded as given, without an
// @context of its own), addressing and the node's full @context. It is the
// one constructor for every activity a coop sends (Create, Update, Delete,
// Follow, Accept, Reject, Undo...).
func (f *Federation) newActivity(typ string, coop directory.Coop, object any, to, cc []string) map[string]any {
	act := map[string]any{
		"@context":  f.jsonLDContext(),
		"id":        f.urls.Activity(newActivityToken()),
		"type":      typ,
		"actor":     f.urls.Actor(coop.Slug),
		"object":    embedded(object),
		"published": apTime(f.cfg.Now()),
	}
	if len(to) > 0 {
		act["to"] = to
	}
	if len(cc) > 0 {
		act["cc"] = cc
	}
	return act
}

// newActivityToken is the last segment of a new activity id: 128 random bits
// in hex, so that ids cannot be guessed or collide.
func newActivityToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// embedded returns an object to embed in another document: without its own
// @context, which only the outermost document carries.
func embedded(object any) any {
	m, ok := object.(map[string]any)
	if !ok {
		return object
	}
	if _, has := m["@context"]; !has {
		return m
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != "@context" {
			out[k] = v
		}
	}
	return out
}

// storeActivity records an activity of the coop in activities inside tx:
// the outbox (when public), what /activities/:id serves, and what the
// delivery queue sends, byte for byte. objectID names the object it acts on
// (a service, the coop, a follow...), so that later activities can find it.
// It returns the row id deliveries refer to.
func (f *Federation) storeActivity(ctx context.Context, tx *sql.Tx, coopID int64, act map[string]any, objectID string, public bool) (int64, error) {
	rowID, _, err := f.storeActivityBody(ctx, tx, coopID, act, objectID, public)
	return rowID, err
}

// storeActivityBody is storeActivity that also returns the body stored.
func (f *Federation) storeActivityBody(ctx context.Context, tx *sql.Tx, coopID int64, act map[string]any, objectID string, public bool) (int64, []byte, error) {
	id, _ := act["id"].(string)
	typ, _ := act["type"].(string)
	if id == "" || typ == "" {
		return 0, nil, errors.New("federation: store activity: no id or type")
	}
	body, err := encodeJSON(act)
	if err != nil {
		return 0, nil, fmt.Errorf("federation: store activity %s: %w", id, err)
	}
	published := f.cfg.Now().UTC().Truncate(time.Microsecond)
	if s, ok := act["published"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			published = t.UTC()
		}
	}
	var rowID int64
	err = tx.QueryRowContext(ctx, `INSERT INTO activities (activity_id, coop_id, type, object_id, public, body, published_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		id, coopID, typ, objectID, public, string(body), published).Scan(&rowID)
	if err != nil {
		return 0, nil, fmt.Errorf("federation: store activity %s: %w", id, err)
	}
	return rowID, body, nil
}

// noteSuffix makes the id of a Note from the id of the Create that carries
// it: the Note is dereferenceable at its own URL without a table of its own.
const noteSuffix = "/note"

// serveActivity answers GET /activities/:id with the stored activity, as it
// was sent. Activities that were not public (a Follow, an Accept) are not
// shown to anyone: 404, as if they did not exist.
func (f *Federation) serveActivity(c echo.Context) error {
	body, ok, err := f.publicActivity(c.Request().Context(), f.urls.Activity(c.Param("id")))
	if err != nil {
		return f.internalError(c, err)
	}
	if !ok {
		return writeFedError(c, http.StatusNotFound, "there is no such activity")
	}
	return c.Blob(http.StatusOK, ActivityContentType, body)
}

// serveNote answers GET /activities/:id/note with the Note that the Create
// at /activities/:id carries.
func (f *Federation) serveNote(c echo.Context) error {
	actID := f.urls.Activity(c.Param("id"))
	body, ok, err := f.publicActivity(c.Request().Context(), actID)
	if err != nil {
		return f.internalError(c, err)
	}
	var act struct {
		Type   string         `json:"type"`
		Object map[string]any `json:"object"`
	}
	if ok {
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if d.Decode(&act) != nil {
			ok = false
		}
	}
	if !ok || act.Type != "Create" || act.Object == nil || act.Object["id"] != actID+noteSuffix {
		return writeFedError(c, http.StatusNotFound, "there is no such note")
	}
	return writeActivityJSON(c, http.StatusOK, f.withContext(act.Object))
}

// publicActivity reads the body of a public activity by its id.
func (f *Federation) publicActivity(ctx context.Context, id string) ([]byte, bool, error) {
	var body string
	err := f.db.QueryRow(ctx, `SELECT body FROM activities WHERE activity_id = $1 AND public`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("federation: read activity: %w", err)
	}
	return []byte(body), true, nil
}
