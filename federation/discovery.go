package federation

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/coopnet/coopnet/directory"
)

// Discovery: coops a coop may want to follow are those that the peers it
// follows follow. The refresh loop (freshness.go) reads each followed
// peer's `following` collection at most every DiscoveryEvery (and, at
// depth 2, those of the actors they follow, capped), fetches each actor
// found once for its name, summary and `discoverable`, and keeps it all in
// the database (migrations/0006_discovery.sql). Suggestions reads only the
// database: a page never waits on a peer. What it finds unread, it asks
// the loop to read soon.

const (
	// maxFollowingItems is the most items read of one following collection.
	maxFollowingItems = 200
	// maxSecondLevel is the most actors whose following collection is read
	// at depth 2: those followed by the most of our peers.
	maxSecondLevel = 50
	// followingBatch and actorBatch are the most following collections
	// and suggested actors read in one round.
	followingBatch = 20
	actorBatch     = 50
	// actorRecheck is how old a suggested actor's details may be.
	actorRecheck = 7 * 24 * time.Hour
	// maxSuggestions is the most suggestions shown.
	maxSuggestions = 50
	// summaryChars is the length of a suggestion's summary.
	summaryChars = 300
)

// errRateLimited is returned for a fetch the host's rate (hostRate) does
// not allow now: the work is left for a later round.
var errRateLimited = errors.New("federation: fetch rate for the host reached")

// Suggestion is an actor that peers the coop follows follow, and that the
// coop does not follow (nor asked to).
type Suggestion struct {
	ActorID string
	Type    string // Organization (a coop), Group, Person, ...
	Handle  string // username@host, or the actor id when unknown
	Name    string
	Summary string // plain text, at most about 300 characters
	URL     string // its page
	// Via are the actors that follow it: peers the coop follows, or at
	// depth 2 actors that those follow.
	Via   []SuggestionVia
	Depth int // 1 or 2
}

// SuggestionVia is an actor through which a suggestion was found.
type SuggestionVia struct {
	ActorID string
	Handle  string
	Name    string
}

// Suggestions lists, best first, the actors the coop may want to follow:
// Organizations (coops) before other actors, found through more of its
// peers first. Actors that set discoverable to false are left out. It reads
// only what the refresh loop stored; when some of that is missing it wakes
// the loop, so a later visit shows more.
func (f *Federation) Suggestions(ctx context.Context, coopID int64) ([]Suggestion, error) {
	coop, err := f.ownCoop(ctx, coopID)
	if err != nil {
		return nil, err
	}
	followed, err := f.queryStrings(ctx, `SELECT actor_id FROM following WHERE coop_id = $1`, coopID)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{f.urls.Actor(coop.Slug): true}
	for _, id := range followed {
		skip[id] = true
	}
	byActor := map[string]*Suggestion{}
	unread := false
	for depth := 1; depth <= f.fresh.options().DiscoveryDepth; depth++ {
		u, err := f.collectSuggestions(ctx, coopID, depth, skip, byActor)
		if err != nil {
			return nil, err
		}
		unread = unread || u
	}
	var peersUnread int
	if err := f.db.QueryRow(ctx, `SELECT COUNT(*) FROM following f LEFT JOIN discovery_reads r ON r.actor_id = f.actor_id
		WHERE f.coop_id = $1 AND f.state = $2 AND r.actor_id IS NULL`, coopID, stateAccepted).Scan(&peersUnread); err != nil {
		return nil, fmt.Errorf("federation: read discovery: %w", err)
	}
	if unread || peersUnread > 0 {
		f.fresh.wake()
	}
	out := make([]Suggestion, 0, len(byActor))
	for _, s := range byActor {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(
			cmp.Compare(rankType(a.Type), rankType(b.Type)),
			cmp.Compare(a.Depth, b.Depth),
			cmp.Compare(len(b.Via), len(a.Via)),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.ActorID, b.ActorID))
	})
	return out[:min(len(out), maxSuggestions)], nil
}

func rankType(t string) int {
	if t == "Organization" {
		return 0
	}
	return 1
}

// viaSQL selects the actors whose follows are suggestions at each depth,
// for the coop $1: the peers it follows, then the actors those follow.
var viaSQL = map[int]string{
	1: `SELECT actor_id FROM following WHERE coop_id = $1 AND state = 'accepted'`,
	2: `SELECT d1.actor_id FROM discovery_follows d1 WHERE d1.via_actor_id IN
		(SELECT actor_id FROM following WHERE coop_id = $1 AND state = 'accepted')`,
}

// collectSuggestions adds to byActor the suggestions found at one depth,
// and reports whether some actors found are not read yet.
func (f *Federation) collectSuggestions(ctx context.Context, coopID int64, depth int, skip map[string]bool,
	byActor map[string]*Suggestion) (unread bool, err error) {
	rows, err := f.db.Query(ctx, `SELECT d.actor_id, d.via_actor_id, COALESCE(r.type, ''), COALESCE(r.username, ''),
		COALESCE(r.host, ''), COALESCE(r.name, ''), COALESCE(r.url, ''), COALESCE(a.summary, ''),
		COALESCE(a.discoverable, FALSE), COALESCE(a.last_error, 'unread'),
		COALESCE(v.username, ''), COALESCE(v.host, ''), COALESCE(v.name, '')
		FROM discovery_follows d
		LEFT JOIN remote_actors r ON r.id = d.actor_id
		LEFT JOIN discovery_actors a ON a.actor_id = d.actor_id
		LEFT JOIN remote_actors v ON v.id = d.via_actor_id
		WHERE d.via_actor_id IN (`+viaSQL[depth]+`)`, coopID)
	if err != nil {
		return false, fmt.Errorf("federation: read suggestions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Suggestion
		var via SuggestionVia
		var user, host, lastErr, viaUser, viaHost string
		var discoverable bool
		if err := rows.Scan(&s.ActorID, &via.ActorID, &s.Type, &user, &host, &s.Name, &s.URL, &s.Summary,
			&discoverable, &lastErr, &viaUser, &viaHost, &via.Name); err != nil {
			return false, fmt.Errorf("federation: read suggestions: %w", err)
		}
		switch {
		case skip[s.ActorID] || s.ActorID == via.ActorID:
			continue
		case lastErr == "unread" || (lastErr == "" && s.Type == ""):
			unread = true // not fetched yet, or its cached actor was dropped
			continue
		case lastErr != "" || !discoverable:
			continue
		}
		via.Handle = RemoteActor{ID: via.ActorID, Username: viaUser, Host: viaHost}.Handle()
		have := byActor[s.ActorID]
		if have == nil {
			s.Handle = RemoteActor{ID: s.ActorID, Username: user, Host: host}.Handle()
			if s.URL == "" {
				s.URL = s.ActorID
			}
			s.Depth = depth
			have = &s
			byActor[s.ActorID] = have
		}
		if have.Depth == depth && !slices.ContainsFunc(have.Via, func(v SuggestionVia) bool { return v.ActorID == via.ActorID }) {
			have.Via = append(have.Via, via)
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("federation: read suggestions: %w", err)
	}
	return unread, nil
}

// DiscoveryReport says what one discovery round did.
type DiscoveryReport struct {
	PeersRead  int // following collections read
	ActorsRead int // suggested actors fetched
	Failed     int // either could not be read (tried again later)
	Deferred   int // left for a later round: rate limit, batch full
}

// RefreshDiscovery runs one discovery round now: it reads the following
// collections that are due, forgets those of actors no longer followed,
// and fetches the actors found that are not known yet. The background
// loop runs it after each freshness round and when Suggestions asks.
func (f *Federation) RefreshDiscovery(ctx context.Context) (DiscoveryReport, error) {
	r := f.fresh
	r.discMu.Lock()
	defer r.discMu.Unlock()
	o := r.options()
	var rep DiscoveryReport
	peers, err := f.queryStrings(ctx, `SELECT DISTINCT actor_id FROM following WHERE state = $1`, stateAccepted)
	if err != nil {
		return rep, err
	}
	wanted := map[string]bool{}
	levels := [][]string{peers}
	if o.DiscoveryDepth >= 2 {
		// Read the level below only once the peers' own collections are.
		if err := f.readFollowings(ctx, peers, o, &rep); err != nil {
			return rep, err
		}
		second, err := f.secondLevel(ctx)
		if err != nil {
			return rep, err
		}
		levels = append(levels, second)
	}
	for _, level := range levels {
		for _, id := range level {
			wanted[id] = true
		}
	}
	if err := f.readFollowings(ctx, levels[len(levels)-1], o, &rep); err != nil {
		return rep, err
	}
	if err := f.pruneDiscovery(ctx, wanted); err != nil {
		return rep, err
	}
	return rep, f.readSuggestedActors(ctx, &rep)
}

// secondLevel returns the actors our peers follow that are worth reading
// at depth 2: not followed by us already, those most followed first.
func (f *Federation) secondLevel(ctx context.Context) ([]string, error) {
	ids, err := f.queryStrings(ctx, `SELECT d.actor_id FROM discovery_follows d
		WHERE d.via_actor_id IN (SELECT actor_id FROM following WHERE state = $1)
		AND d.actor_id NOT IN (SELECT actor_id FROM following WHERE state = $1)
		GROUP BY d.actor_id ORDER BY COUNT(*) DESC, d.actor_id LIMIT $2`, stateAccepted, maxSecondLevel)
	return ids, err
}

// readFollowings reads the following collections of the actors given that
// were not read for DiscoveryEvery, never read first, up to a batch.
func (f *Federation) readFollowings(ctx context.Context, actors []string, o FreshnessOptions, rep *DiscoveryReport) error {
	readAt := map[string]time.Time{}
	rows, err := f.db.Query(ctx, `SELECT actor_id, read_at FROM discovery_reads`)
	if err != nil {
		return fmt.Errorf("federation: read discovery: %w", err)
	}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return fmt.Errorf("federation: read discovery: %w", err)
		}
		readAt[id] = at
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("federation: read discovery: %w", err)
	}
	cutoff := f.cfg.Now().Add(-o.DiscoveryEvery)
	var due []string
	for _, id := range actors {
		if at, ok := readAt[id]; !ok || at.Before(cutoff) {
			due = append(due, id)
		}
	}
	slices.SortStableFunc(due, func(a, b string) int { return readAt[a].Compare(readAt[b]) })
	for _, id := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rep.PeersRead+rep.Failed >= followingBatch {
			rep.Deferred++
			continue
		}
		err := f.readFollowing(ctx, id)
		switch {
		case err == nil:
			rep.PeersRead++
		case errors.Is(err, errRateLimited):
			rep.Deferred++
		case errors.Is(err, errStore):
			return err
		default:
			rep.Failed++
			f.log.InfoContext(ctx, "following collection not read", "actor", id, "error", err)
			if err := f.recordRead(ctx, id, 0, err.Error()); err != nil {
				return err
			}
		}
	}
	return nil
}

// readFollowing reads one actor's following collection (at most
// maxFollowingItems) and stores whom it follows.
func (f *Federation) readFollowing(ctx context.Context, actorID string) error {
	doc, err := f.fetchActorLimited(ctx, actorID)
	if err != nil {
		return err
	}
	var ids []string
	if following := string(doc.Following); following != "" && sameOrigin(following, actorID) {
		items, _, err := f.readCollection(ctx, following, maxFollowingItems, f.fetchLimited)
		if err != nil {
			return err
		}
		for _, raw := range items {
			var v any
			if json.Unmarshal(raw, &v) != nil {
				continue
			}
			id := idOf(v)
			// Coops of this node are never suggested: they are listed here.
			if hostOf(id) == "" || id == actorID || sameOrigin(id, f.urls.Base.String()) || slices.Contains(ids, id) {
				continue
			}
			ids = append(ids, id)
		}
	}
	if err := f.db.Tx(ctx, func(tx *sql.Tx) error {
		known := map[string]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT actor_id FROM discovery_follows WHERE via_actor_id = $1`, actorID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			known[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := dbTime(f.cfg.Now())
		for _, id := range ids {
			if known[id] {
				delete(known, id)
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO discovery_follows (via_actor_id, actor_id, found_at) VALUES ($1, $2, $3)`,
				actorID, id, now); err != nil {
				return err
			}
		}
		for id := range known { // no longer followed
			if _, err := tx.ExecContext(ctx, `DELETE FROM discovery_follows WHERE via_actor_id = $1 AND actor_id = $2`, actorID, id); err != nil {
				return err
			}
		}
		return upsertRead(ctx, tx, actorID, now, len(ids), "")
	}); err != nil {
		return fmt.Errorf("%w: save follows of %s: %w", errStore, actorID, err)
	}
	return nil
}

// recordRead records a failed read of an actor's following collection: it
// is tried again after DiscoveryEvery, and what was read before is kept.
func (f *Federation) recordRead(ctx context.Context, actorID string, items int, lastErr string) error {
	err := f.db.Tx(ctx, func(tx *sql.Tx) error {
		return upsertRead(ctx, tx, actorID, dbTime(f.cfg.Now()), items, clip(lastErr))
	})
	if err != nil {
		return fmt.Errorf("%w: save discovery read of %s: %w", errStore, actorID, err)
	}
	return nil
}

func upsertRead(ctx context.Context, tx *sql.Tx, actorID string, at time.Time, items int, lastErr string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO discovery_reads (actor_id, read_at, items, last_error) VALUES ($1, $2, $3, $4)
		ON CONFLICT (actor_id) DO UPDATE SET read_at = excluded.read_at, last_error = excluded.last_error,
		items = CASE WHEN excluded.last_error = '' THEN excluded.items ELSE discovery_reads.items END`,
		actorID, at, items, lastErr)
	return err
}

// pruneDiscovery forgets the follows of actors no longer read: peers no
// coop of ours follows any more.
func (f *Federation) pruneDiscovery(ctx context.Context, wanted map[string]bool) error {
	read, err := f.queryStrings(ctx, `SELECT actor_id FROM discovery_reads`)
	if err != nil {
		return err
	}
	var gone []string
	for _, id := range read {
		if !wanted[id] {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	err = f.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, id := range gone {
			for _, q := range []string{`DELETE FROM discovery_follows WHERE via_actor_id = $1`, `DELETE FROM discovery_reads WHERE actor_id = $1`} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return err
				}
			}
		}
		// Details of actors no longer found through anyone.
		_, err := tx.ExecContext(ctx, `DELETE FROM discovery_actors WHERE actor_id NOT IN (SELECT actor_id FROM discovery_follows)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: prune discovery: %w", errStore, err)
	}
	return nil
}

// readSuggestedActors fetches the actors found that are not read yet (or
// not for actorRecheck, or that failed over DiscoveryEvery ago), those
// found through the most peers first, up to a batch.
func (f *Federation) readSuggestedActors(ctx context.Context, rep *DiscoveryReport) error {
	now := f.cfg.Now()
	ids, err := f.queryStrings(ctx, `SELECT d.actor_id FROM discovery_follows d
		LEFT JOIN discovery_actors a ON a.actor_id = d.actor_id
		LEFT JOIN remote_actors r ON r.id = d.actor_id
		WHERE a.actor_id IS NULL OR a.checked_at < $1 OR (a.last_error <> '' AND a.checked_at < $2)
			OR (a.last_error = '' AND r.id IS NULL)
		GROUP BY d.actor_id ORDER BY COUNT(*) DESC, d.actor_id LIMIT $3`,
		dbTime(now.Add(-actorRecheck)), dbTime(now.Add(-f.fresh.options().DiscoveryEvery)), actorBatch*2)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rep.ActorsRead+rep.Failed >= actorBatch {
			rep.Deferred++
			continue
		}
		summary, discoverable, err := f.readSuggestedActor(ctx, id)
		switch {
		case errors.Is(err, errRateLimited):
			rep.Deferred++
			continue
		case errors.Is(err, errStore):
			return err
		case err != nil:
			rep.Failed++
		default:
			rep.ActorsRead++
		}
		lastErr := ""
		if err != nil {
			lastErr = clip(err.Error())
		}
		if _, err := f.db.Exec(ctx, `INSERT INTO discovery_actors (actor_id, summary, discoverable, checked_at, last_error)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (actor_id) DO UPDATE SET summary = excluded.summary,
			discoverable = excluded.discoverable, checked_at = excluded.checked_at, last_error = excluded.last_error`,
			id, summary, discoverable, dbTime(now), lastErr); err != nil {
			return fmt.Errorf("%w: save suggested actor %s: %w", errStore, id, err)
		}
	}
	return nil
}

// readSuggestedActor fetches one suggested actor into the actor cache and
// returns what remote_actors does not keep.
func (f *Federation) readSuggestedActor(ctx context.Context, actorID string) (summary string, discoverable bool, err error) {
	doc, err := f.fetchActorLimited(ctx, actorID)
	if err != nil {
		return "", false, err
	}
	if _, err := f.saveActor(ctx, doc); err != nil {
		return "", false, err
	}
	summary = directory.CleanRemoteText(htmlText(string(doc.Summary)), summaryChars, false)
	// Mastodon's flag: an actor that says false is not suggested. Absent,
	// it may be: a suggestion is shown to a coop's admins only, and
	// following asks the actor, who can refuse.
	return summary, doc.Discoverable.is(true), nil
}

// fetchActorLimited fetches an actor document within the host's rate and
// checks it names itself by the id asked for.
func (f *Federation) fetchActorLimited(ctx context.Context, actorID string) (*actorDoc, error) {
	body, final, err := f.fetchLimited(ctx, actorID)
	if err != nil {
		return nil, err
	}
	var doc actorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotActor, actorID, err)
	}
	if err := doc.check(final); err != nil {
		return nil, err
	}
	if string(doc.ID) != actorID {
		return nil, fmt.Errorf("%w: %s names itself %s", ErrNotActor, actorID, doc.ID)
	}
	return &doc, nil
}

// fetchLimited is fetchSigned within the host's rate (hostRate).
func (f *Federation) fetchLimited(ctx context.Context, rawURL string) ([]byte, *url.URL, error) {
	host := hostOf(rawURL)
	if !f.fresh.hostRate().take(host, 1) {
		return nil, nil, fmt.Errorf("%w: %s", errRateLimited, host)
	}
	return f.fetchSigned(ctx, rawURL)
}
