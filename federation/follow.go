package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

// Follows between our coops and remote actors, for the web UI and the CLI.
// Every change is recorded with the activity that tells the peer and its
// delivery in one transaction.

// States of a follow, in followers and following.
const (
	statePending  = "pending"
	stateAccepted = "accepted"
	stateRejected = "rejected"
)

// Errors of the follow API.
var (
	// ErrNoSuchFollow is returned when the coop has no such follower or
	// does not follow that actor.
	ErrNoSuchFollow = errors.New("federation: no such follow")
	// ErrFollowLocal is returned for an attempt to follow a coop of this
	// very node, which the directory shows already.
	ErrFollowLocal = errors.New("federation: that coop is on this node")
)

// Follow is one follow relation of a coop, with what the UI shows of the
// remote actor.
type Follow struct {
	ActorID  string
	FollowID string
	State    string // "pending", "accepted" or "rejected" (following only)
	Handle   string // username@host, or the actor id when unknown
	Name     string
	URL      string // the actor's page
	Since    time.Time
}

// Follow makes the coop follow the actor named by handleOrURL (slug@host,
// @user@host or an actor URL): it sends a Follow and records the relation
// as pending until the peer answers. Following again an actor that has not
// accepted sends a new Follow; one already accepted is left alone.
func (f *Federation) Follow(ctx context.Context, coopID int64, handleOrURL string) error {
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return err
	}
	// A handle of this node is known before asking anyone (WebFinger to
	// ourselves would only be a round trip, or fail behind a proxy).
	if _, host, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(handleOrURL), "@"), "@"); ok && strings.EqualFold(host, f.urls.Host()) {
		return ErrFollowLocal
	}
	actorURL, err := f.ResolveHandle(ctx, handleOrURL)
	if err != nil {
		return err
	}
	if sameOrigin(actorURL, f.urls.Base.String()) {
		return ErrFollowLocal
	}
	actor, err := f.FetchActor(ctx, actorURL)
	if err != nil {
		return err
	}
	var state string
	err = f.db.QueryRow(ctx, `SELECT state FROM following WHERE coop_id = $1 AND actor_id = $2`, coop.ID, actor.ID).Scan(&state)
	if err == nil && state == stateAccepted {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("federation: read following: %w", err)
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		act := f.newActivity("Follow", coop, actor.ID, []string{actor.ID}, nil)
		followID := act["id"].(string)
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO following (coop_id, actor_id, follow_id, state, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (coop_id, actor_id)
			DO UPDATE SET follow_id = excluded.follow_id, state = excluded.state, updated_at = excluded.updated_at`,
			coop.ID, actor.ID, followID, statePending, now); err != nil {
			return fmt.Errorf("federation: save following: %w", err)
		}
		return f.sendTo(ctx, tx, coop, act, actor.ID, actor)
	})
}

// Unfollow stops the coop following actorID and sends an Undo of the
// Follow. A peer no coop of ours follows any more leaves the directory:
// nothing would keep its entry current.
func (f *Federation) Unfollow(ctx context.Context, coopID int64, actorID string) error {
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return err
	}
	var followID string
	err = f.db.QueryRow(ctx, `SELECT follow_id FROM following WHERE coop_id = $1 AND actor_id = $2`, coop.ID, actorID).Scan(&followID)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoSuchFollow
	}
	if err != nil {
		return fmt.Errorf("federation: read following: %w", err)
	}
	actor, err := f.actor(ctx, actorID)
	if err != nil {
		// A peer gone for good cannot be told, but is unfollowed all the same.
		f.log.WarnContext(ctx, "unfollowing without telling the peer", "actor", actorID, "error", err)
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM following WHERE coop_id = $1 AND actor_id = $2`, coop.ID, actorID); err != nil {
			return fmt.Errorf("federation: remove following: %w", err)
		}
		follow := map[string]any{"id": followID, "type": "Follow", "actor": f.urls.Actor(coop.Slug), "object": actorID}
		if actor.Inbox != "" {
			if err := f.sendTo(ctx, tx, coop, f.newActivity("Undo", coop, follow, []string{actorID}, nil), followID, actor); err != nil {
				return err
			}
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM following WHERE actor_id = $1`, actorID).Scan(&left); err != nil {
			return fmt.Errorf("federation: read following: %w", err)
		}
		if left == 0 {
			_, err = f.dir.DeleteRemoteCoop(ctx, tx, actorID)
		}
		return err
	})
}

// RemoveFollower removes a follower (or refuses a pending one) and tells it
// with a Reject of its Follow, as Mastodon does: its server then stops
// showing the coop as followed.
func (f *Federation) RemoveFollower(ctx context.Context, coopID int64, actorID string) error {
	return f.endFollower(ctx, coopID, actorID, false)
}

// RejectFollower refuses a follower waiting for approval (a Reject).
func (f *Federation) RejectFollower(ctx context.Context, coopID int64, actorID string) error {
	return f.endFollower(ctx, coopID, actorID, true)
}

func (f *Federation) endFollower(ctx context.Context, coopID int64, actorID string, pendingOnly bool) error {
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return err
	}
	actor, err := f.actor(ctx, actorID)
	if err != nil {
		// A follower whose server is gone is removed all the same.
		f.log.WarnContext(ctx, "removing a follower without telling it", "actor", actorID, "error", err)
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		var followID string
		q := `DELETE FROM followers WHERE coop_id = $1 AND actor_id = $2 RETURNING follow_id`
		if pendingOnly {
			q = `DELETE FROM followers WHERE coop_id = $1 AND actor_id = $2 AND state = 'pending' RETURNING follow_id`
		}
		err := tx.QueryRowContext(ctx, q, coop.ID, actorID).Scan(&followID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoSuchFollow
		}
		if err != nil {
			return fmt.Errorf("federation: remove follower: %w", err)
		}
		if actor.Inbox == "" {
			return nil
		}
		return f.answerFollow(ctx, tx, coop, "Reject", followID, actor)
	})
}

// ApproveFollower accepts a follower waiting for approval (an Accept).
func (f *Federation) ApproveFollower(ctx context.Context, coopID int64, actorID string) error {
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return err
	}
	actor, err := f.actor(ctx, actorID)
	if err != nil {
		return err
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		var followID string
		err := tx.QueryRowContext(ctx, `UPDATE followers SET state = $3 WHERE coop_id = $1 AND actor_id = $2 AND state = $4
			RETURNING follow_id`, coop.ID, actorID, stateAccepted, statePending).Scan(&followID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoSuchFollow
		}
		if err != nil {
			return fmt.Errorf("federation: approve follower: %w", err)
		}
		return f.answerFollow(ctx, tx, coop, "Accept", followID, actor)
	})
}

// Followers lists who follows the coop, newest first, pending ones included.
func (f *Federation) Followers(ctx context.Context, coopID int64) ([]Follow, error) {
	return f.follows(ctx, `followers`, coopID, "")
}

// PendingFollowers lists who waits for the coop's approval.
func (f *Federation) PendingFollowers(ctx context.Context, coopID int64) ([]Follow, error) {
	return f.follows(ctx, `followers`, coopID, statePending)
}

// Following lists whom the coop follows, newest first, with the state of
// each request.
func (f *Federation) Following(ctx context.Context, coopID int64) ([]Follow, error) {
	return f.follows(ctx, `following`, coopID, "")
}

func (f *Federation) follows(ctx context.Context, table string, coopID int64, state string) ([]Follow, error) {
	rows, err := f.db.Query(ctx, `SELECT t.actor_id, t.follow_id, t.state, t.created_at, COALESCE(r.username, ''),
		COALESCE(r.host, ''), COALESCE(r.name, ''), COALESCE(r.url, '')
		FROM `+table+` t LEFT JOIN remote_actors r ON r.id = t.actor_id
		WHERE t.coop_id = $1 AND ($2 = '' OR t.state = $2) ORDER BY t.created_at DESC, t.actor_id`, coopID, state)
	if err != nil {
		return nil, fmt.Errorf("federation: list %s: %w", table, err)
	}
	defer rows.Close()
	out := []Follow{}
	for rows.Next() {
		var fl Follow
		var user, host string
		if err := rows.Scan(&fl.ActorID, &fl.FollowID, &fl.State, &fl.Since, &user, &host, &fl.Name, &fl.URL); err != nil {
			return nil, fmt.Errorf("federation: list %s: %w", table, err)
		}
		fl.Since = fl.Since.UTC()
		fl.Handle = RemoteActor{ID: fl.ActorID, Username: user, Host: host}.Handle()
		if fl.URL == "" {
			fl.URL = fl.ActorID
		}
		out = append(out, fl)
	}
	return out, rows.Err()
}

// ownCoop returns a coop hosted here by id.
func (f *Federation) ownCoop(ctx context.Context, coopID int64) (directory.Coop, error) {
	c, err := f.dir.CoopByID(ctx, coopID)
	if err != nil {
		return directory.Coop{}, err
	}
	if local, err := f.dir.CoopBySlug(ctx, c.Slug); err != nil || local.ID != c.ID {
		return directory.Coop{}, directory.ErrNotFound
	}
	return c, nil
}

// answerFollow records and sends an Accept or a Reject of a follower's
// Follow, embedding the Follow as the follower sent it (its id, actor and
// object), which every server matches.
func (f *Federation) answerFollow(ctx context.Context, tx *sql.Tx, coop directory.Coop, typ, followID string, follower RemoteActor) error {
	follow := map[string]any{"id": followID, "type": "Follow", "actor": follower.ID, "object": f.urls.Actor(coop.Slug)}
	return f.sendTo(ctx, tx, coop, f.newActivity(typ, coop, follow, []string{follower.ID}, nil), followID, follower)
}

// sendTo stores a non-public activity of the coop and queues its delivery
// to one actor's own inbox, inside tx.
func (f *Federation) sendTo(ctx context.Context, tx *sql.Tx, coop directory.Coop, act map[string]any, objectID string, to RemoteActor) error {
	rowID, err := f.storeActivity(ctx, tx, coop.ID, act, objectID, false)
	if err != nil {
		return err
	}
	return f.deliverTo(ctx, tx, coop.ID, rowID, []string{to.Inbox})
}

// Limits on reading a peer's services collection.
const (
	maxCollectionPages = 100
	maxCollectionItems = 2000
	maxItemFetches     = 200
)

// RefreshPeer reads a remote actor again and, when it is a coop, records
// its profile in the directory and reads its whole services collection.
// The inbox runs it when a peer accepts a follow; the CLI may run it to
// resynchronise a peer.
func (f *Federation) RefreshPeer(ctx context.Context, actorID string) error {
	doc, err := f.fetchActorDoc(ctx, actorID)
	if err != nil {
		return err
	}
	if _, err := f.saveActor(ctx, doc); err != nil {
		return err
	}
	if !doc.isCoop() {
		return nil
	}
	coopID, err := f.dir.UpsertRemoteCoop(ctx, nil, doc.remoteCoop())
	if err != nil {
		return err
	}
	if doc.Services == "" || !sameOrigin(string(doc.Services), actorID) {
		return nil
	}
	return f.syncServices(ctx, coopID, actorID, string(doc.Services))
}

// learnPeer is RefreshPeer run after an Accept, where an error is only
// logged: the follow itself is recorded already.
func (f *Federation) learnPeer(ctx context.Context, actorID string) {
	if err := f.RefreshPeer(ctx, actorID); err != nil {
		f.log.WarnContext(ctx, "peer not read", "actor", actorID, "error", err)
	}
}

// syncServices stores every Service of the peer's collection and, when the
// collection was read to its end, removes the services no longer in it.
func (f *Federation) syncServices(ctx context.Context, coopID int64, actorID, collection string) error {
	items, complete, err := f.collectionItems(ctx, collection)
	if err != nil {
		return err
	}
	var svcs []directory.RemoteService
	fetches := 0
	for _, raw := range items {
		var doc serviceDoc
		var iri string
		if json.Unmarshal(raw, &iri) == nil {
			if !sameOrigin(iri, actorID) || fetches == maxItemFetches {
				complete = false
				continue
			}
			fetches++
			body, _, err := f.fetchSigned(ctx, iri)
			if err != nil {
				f.log.WarnContext(ctx, "service not read", "object", iri, "error", err)
				complete = false
				continue
			}
			raw = body
		}
		if json.Unmarshal(raw, &doc) != nil || !doc.Type.hasAny(serviceTypes...) || !sameHost(string(doc.ID), actorID) ||
			(doc.AttributedTo != "" && string(doc.AttributedTo) != actorID) {
			continue
		}
		svcs = append(svcs, doc.remoteService())
	}
	return f.db.Tx(ctx, func(tx *sql.Tx) error {
		keep := make([]string, 0, len(svcs))
		for _, s := range svcs {
			if _, err := f.dir.UpsertRemoteService(ctx, tx, coopID, s); err != nil {
				if errors.Is(err, directory.ErrInvalidRemote) {
					f.log.WarnContext(ctx, "service refused", "object", s.ObjectID, "error", err)
					continue
				}
				return err
			}
			keep = append(keep, s.ObjectID)
		}
		if !complete {
			return nil
		}
		_, err := f.dir.PruneRemoteServices(ctx, tx, coopID, keep)
		return err
	})
}

// collectionDoc is an (Ordered)Collection or one of its pages.
type collectionDoc struct {
	ID           jsonID            `json:"id"`
	First        json.RawMessage   `json:"first"`
	Next         jsonID            `json:"next"`
	OrderedItems []json.RawMessage `json:"orderedItems"`
	Items        []json.RawMessage `json:"items"`
}

// collectionItems reads a collection's items, following its pages (which
// must stay on the collection's origin). complete is false when a limit
// cut the reading short.
func (f *Federation) collectionItems(ctx context.Context, collection string) (items []json.RawMessage, complete bool, err error) {
	return f.readCollection(ctx, collection, maxCollectionItems, f.fetchSigned)
}

// readCollection is collectionItems reading at most maxItems, each page
// fetched with fetch (discovery.go passes one that is rate limited).
func (f *Federation) readCollection(ctx context.Context, collection string, maxItems int,
	fetch func(context.Context, string) ([]byte, *url.URL, error)) (items []json.RawMessage, complete bool, err error) {
	body, _, err := fetch(ctx, collection)
	if err != nil {
		return nil, false, err
	}
	var c collectionDoc
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, false, fmt.Errorf("federation: collection %s: %w", collection, err)
	}
	items = append(append(items, c.OrderedItems...), c.Items...)
	page := c
	next := ""
	if len(c.First) > 0 {
		var first string
		if json.Unmarshal(c.First, &first) == nil {
			next = first
		} else if err := json.Unmarshal(c.First, &page); err == nil {
			items = append(append(items, page.OrderedItems...), page.Items...)
			next = string(page.Next)
		}
	}
	seen := map[string]bool{collection: true}
	for pages := 0; next != "" && !seen[next]; pages++ {
		if pages == maxCollectionPages || len(items) >= maxItems || !sameOrigin(next, collection) {
			return items[:min(len(items), maxItems)], false, nil
		}
		seen[next] = true
		body, _, err := fetch(ctx, next)
		if err != nil {
			return nil, false, err
		}
		var p collectionDoc
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, false, fmt.Errorf("federation: collection page %s: %w", next, err)
		}
		items = append(append(items, p.OrderedItems...), p.Items...)
		next = strings.TrimSpace(string(p.Next))
	}
	if len(items) > maxItems {
		return items[:maxItems], false, nil
	}
	return items, true, nil
}
