package federation

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-fed/activity/pub"
	"github.com/labstack/echo/v4"

	"github.com/coopnet/coopnet/directory"
)

// The inboxes, in honk's order: content type, size, signature, then the
// activity. Every check that fails answers before anything is stored:
//
//	415 content type other than application/activity+json or
//	    application/ld+json with the ActivityStreams profile (GoToSocial
//	    answers 406; 415 says what is wrong: the body's type, not the
//	    answer's)
//	413 body over 1 MiB
//	401 any signature failure: unsigned, bad digest or date, unknown or
//	    unfetchable key, key owner other than the actor. Never 400/404/500:
//	    Mastodon 4.5 and Fedify re-send with the other signature scheme on
//	    an error ("double knock"), and 401 is what they expect
//	400 invalid JSON, or no id, type or actor; an id not on the actor's host
//	403 the actor's host is blocked, or not allowed in allowlist mode; an
//	    actor changing another host's object
//	202 applied, a duplicate, or a type we do not act on (logged, ignored:
//	    a 400 would only make the sender retry or give up noisily)
//	500 a failure of our own (the database): the sender tries again later,
//	    and the activity, not recorded as seen, is applied then
//	404 a coop inbox of a coop that does not exist
//
// A Delete of an actor we never knew is answered 202 at once, without
// fetching its key: Mastodon sends one for every deleted account to every
// server it knows, and its key is gone with it.
//
// Then go-fed runs (gofed.go) and the effect is applied in one short
// transaction with the inbox_seen record (apply.go).

// maxInboxBody is the largest activity accepted.
const maxInboxBody = 1 << 20

// handledTypes are the activity types with an effect here; others are
// answered 202 without reaching go-fed (which would answer 400 to the
// types it does not know, such as Misskey's EmojiReact).
var handledTypes = []string{"Follow", "Undo", "Accept", "Reject", "Create", "Update", "Delete", "Offer", "Add"}

// inbox serves both inbox routes.
type inbox struct {
	f     *Federation
	actor pub.FederatingActor
	locks *iriLocks
	reads readSlots // shared with go-fed's database (gofed.go)
	// background holds the work effects leave for after their commit
	// (reading a peer that accepted a follow).
	background sync.WaitGroup
	recorded   atomic.Int64 // activities recorded by this process
}

// inbox_seen keeps ids long enough to catch every retry (Mastodon retries
// for about three days, Fedify for twelve hours), and is pruned now and
// then by the process that records activities.
const (
	inboxSeenRetention = 30 * 24 * time.Hour
	inboxPruneEvery    = 1000
)

func (ib *inbox) pruneSeen(ctx context.Context) {
	cutoff := ib.f.cfg.Now().Add(-inboxSeenRetention).UTC()
	if _, err := ib.f.db.Exec(ctx, `DELETE FROM inbox_seen WHERE received_at < $1`, cutoff); err != nil {
		ib.f.log.WarnContext(ctx, "inbox_seen not pruned", "error", err)
	}
}

// registerInbox adds the coops' inboxes and the shared inbox.
func (f *Federation) registerInbox(e *echo.Echo) {
	ib := &inbox{f: f, locks: newIRILocks(), reads: newReadSlots(f, inboxReadSlots)}
	ib.actor = newGoFedActor(f, ib.locks, ib.reads)
	e.POST("/coops/:slug/inbox", ib.post)
	e.POST("/inbox", ib.post)
}

// inboxError is an answer other than 202, with the reason logged.
type inboxError struct {
	status int
	msg    string
	err    error
}

func (e *inboxError) Error() string { return e.msg + ": " + fmt.Sprint(e.err) }

func refuse(status int, msg string, err error) *inboxError {
	return &inboxError{status: status, msg: msg, err: err}
}

func (ib *inbox) post(c echo.Context) error {
	r := c.Request()
	var coop *directory.Coop
	if c.Param("slug") != "" {
		// A coop's inbox for a coop that does not exist: 404 is only ever
		// about the URL, which the signature does not make valid.
		found, err := ib.f.dir.CoopBySlug(r.Context(), c.Param("slug"))
		if err != nil {
			return ib.answer(c, refuse(http.StatusNotFound, "there is no coop at this address on this node", err), "")
		}
		coop = &found
	}
	st, peer, ierr := ib.receive(r)
	if ierr != nil {
		return ib.answer(c, ierr, peer)
	}
	if st == nil { // verified, nothing to do
		return c.NoContent(http.StatusAccepted)
	}
	st.coop = coop
	if !containsAny(st.env.Type, handledTypes) {
		ib.f.log.InfoContext(r.Context(), "activity type not handled, ignored", "peer", peer, "type", []string(st.env.Type), "activity", st.id)
		return c.NoContent(http.StatusAccepted)
	}
	return ib.answer(c, ib.runGoFed(r, st), peer)
}

// answer writes an inboxError (or 202 for nil) and logs it once, with the
// peer and the reason.
func (ib *inbox) answer(c echo.Context, ierr *inboxError, peer string) error {
	if ierr == nil {
		return c.NoContent(http.StatusAccepted)
	}
	ctx := c.Request().Context()
	if ierr.status >= 500 {
		ib.f.log.ErrorContext(ctx, "inbox failed", "peer", peer, "status", ierr.status, "reason", ierr.msg, "err", ierr.err)
	} else {
		ib.f.log.InfoContext(ctx, "inbox refused", "peer", peer, "remote", c.RealIP(), "status", ierr.status, "reason", ierr.msg, "err", ierr.err)
	}
	return writeFedError(c, ierr.status, ierr.msg)
}

// receive runs every check up to go-fed. A nil state with a nil error
// means the request was verified and needs no processing. peer names the
// sender for the log: the verified actor, or what the request claims.
func (ib *inbox) receive(r *http.Request) (st *inboxState, peer string, ierr *inboxError) {
	ctx := r.Context()
	if !isInboxContentType(r.Header.Get("Content-Type")) {
		return nil, peer, refuse(http.StatusUnsupportedMediaType, `the body must be application/activity+json or application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, nil)
	}
	if r.ContentLength > maxInboxBody {
		return nil, peer, refuse(http.StatusRequestEntityTooLarge, "the body is over 1 MiB", nil)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInboxBody+1))
	if err != nil {
		return nil, peer, refuse(http.StatusBadRequest, "the body could not be read", err)
	}
	if len(body) > maxInboxBody {
		return nil, peer, refuse(http.StatusRequestEntityTooLarge, "the body is over 1 MiB", nil)
	}
	sig, err := ParseRequestSignature(r, body, ib.f.urls.Base, ib.f.cfg.Now())
	if sig != nil {
		peer = "key " + sig.KeyID
	}
	if err != nil {
		return nil, peer, refuse(http.StatusUnauthorized, "the signature is missing or invalid", err)
	}
	env, err := parseEnvelope(body)
	if err != nil {
		return nil, peer, refuse(http.StatusBadRequest, "not an activity", err)
	}
	peer = "claimed " + env.actor
	hosts := []string{hostOf(env.actor)}
	if kh := hostOf(sig.KeyID); kh != hosts[0] {
		hosts = append(hosts, kh)
	}
	for _, host := range hosts {
		release := ib.reads.acquire(ctx)
		ok, err := ib.f.HostAllowed(ctx, host)
		release()
		if err != nil {
			return nil, peer, refuse(http.StatusInternalServerError, "policy not read", err)
		} else if !ok {
			return nil, peer, refuse(http.StatusForbidden, "this node does not federate with "+host, nil)
		}
	}
	actor, ierr := ib.verify(ctx, sig, env)
	if ierr != nil || actor.ID == "" {
		return nil, peer, ierr
	}
	return &inboxState{id: env.id, actor: actor, body: body, env: env}, actor.ID, nil
}

// verify finds the key that signed the request and checks the signature
// with it. A signature that fails with a cached key triggers one refetch of
// the key (the peer may have rotated it), unless the cached copy is younger
// than keyRefetchInterval; then one more check, and no more.
func (ib *inbox) verify(ctx context.Context, sig *RequestSignature, env *envelope) (RemoteActor, *inboxError) {
	f := ib.f
	if env.isSelfDelete() {
		release := ib.reads.acquire(ctx)
		_, err := f.cachedActor(ctx, `id = $1`, env.actor)
		release()
		if errors.Is(err, sql.ErrNoRows) {
			// A deleted account we never knew (Mastodon tells every server
			// it ever talked to, signed with a key that is gone): nothing
			// to delete, and no key to fetch.
			return RemoteActor{}, nil
		}
	}
	key, err := ib.cachedKey(ctx, sig.KeyID)
	if errors.Is(err, errStore) {
		return RemoteActor{}, refuse(http.StatusInternalServerError, "the activity could not be processed; try again later", err)
	}
	if err != nil {
		return RemoteActor{}, refuse(http.StatusUnauthorized, "the signing key could not be found", err)
	}
	if err := sig.Verify(key.pub); err != nil {
		if !key.cached || f.cfg.Now().Sub(key.actor.FetchedAt) < keyRefetchInterval {
			return RemoteActor{}, refuse(http.StatusUnauthorized, "the signature does not verify", err)
		}
		if key, err = f.keyFor(ctx, sig.KeyID, true); errors.Is(err, errStore) {
			return RemoteActor{}, refuse(http.StatusInternalServerError, "the activity could not be processed; try again later", err)
		} else if err != nil {
			return RemoteActor{}, refuse(http.StatusUnauthorized, "the signing key could not be refetched", err)
		}
		if err := sig.Verify(key.pub); err != nil {
			return RemoteActor{}, refuse(http.StatusUnauthorized, "the signature does not verify", err)
		}
	}
	if key.actor.ID != env.actor {
		return RemoteActor{}, refuse(http.StatusUnauthorized, "the key's owner is not the activity's actor",
			fmt.Errorf("key %s belongs to %s, activity by %s", sig.KeyID, key.actor.ID, env.actor))
	}
	return key.actor, nil
}

// cachedKey is keyFor(ctx, keyID, false) with the cache read in a read
// slot (the fetch, when the key is not cached, must not hold one).
func (ib *inbox) cachedKey(ctx context.Context, keyID string) (signerKey, error) {
	if k, ok := ib.f.signers.get(keyID); ok {
		return k, nil
	}
	release := ib.reads.acquire(ctx)
	a, err := ib.f.cachedActor(ctx, `key_id = $1`, keyID)
	release()
	switch {
	case err == nil:
		pub, err := ParsePublicKeyPEM(a.PublicKeyPEM)
		if err != nil {
			return signerKey{}, fmt.Errorf("%w: cached key %s: %v", ErrSignature, keyID, err)
		}
		k := signerKey{actor: a, pub: pub, cached: true}
		ib.f.signers.put(keyID, k)
		return k, nil
	case errors.Is(err, sql.ErrNoRows):
		return ib.f.keyFor(ctx, keyID, false)
	default:
		return signerKey{}, err
	}
}

// runGoFed hands the verified activity to go-fed and turns its answer into
// ours: 202 for its 200, its own refusals kept, our callbacks' errors
// mapped. Work left for after the commit starts in the background.
func (ib *inbox) runGoFed(r *http.Request, st *inboxState) *inboxError {
	ctx := withInboxState(r.Context(), st)
	defer ib.locks.releaseAll(st)
	body, err := st.env.forGoFed(st.body)
	if err != nil {
		return refuse(http.StatusBadRequest, "not an activity", err)
	}
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/activity+json")
	w := &statusRecorder{header: http.Header{}}
	handled, err := ib.actor.PostInbox(ctx, w, req)
	switch {
	case errors.Is(err, errRefused):
		return refuse(http.StatusForbidden, strings.TrimPrefix(err.Error(), "federation: "), err)
	case errors.Is(err, errInvalidActivity):
		return refuse(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "federation: "), err)
	case errors.Is(err, errStore):
		return refuse(http.StatusInternalServerError, "the activity could not be processed; try again later", err)
	case err != nil:
		// Anything else comes from go-fed failing to read the activity.
		return refuse(http.StatusBadRequest, "the activity could not be read", err)
	case !handled:
		return refuse(http.StatusUnsupportedMediaType, "not an ActivityPub request", nil)
	case w.status != 0 && w.status != http.StatusOK:
		return refuse(w.status, http.StatusText(w.status), errors.New("answered by go-fed"))
	}
	if st.recorded && ib.recorded.Add(1)%inboxPruneEvery == 0 {
		st.later = append(st.later, ib.pruneSeen)
	}
	for _, l := range st.later {
		ib.background.Add(1)
		go func() {
			defer ib.background.Done()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			l(ctx)
		}()
	}
	return nil
}

// statusRecorder is the ResponseWriter go-fed writes to: it keeps the
// status for runGoFed to translate and writes nothing itself.
type statusRecorder struct {
	header http.Header
	status int
}

func (w *statusRecorder) Header() http.Header { return w.header }

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// isInboxContentType accepts application/activity+json (any parameters,
// charset included) and application/ld+json with the ActivityStreams
// profile.
func isInboxContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/activity+json":
		return true
	case "application/ld+json":
		for _, p := range strings.Fields(params["profile"]) {
			if p == activityStreamsContext {
				return true
			}
		}
	}
	return false
}

// envelope is what the inbox reads of an activity before go-fed does: its
// id, type, actor and object, each in any of the forms servers send.
type envelope struct {
	id       string
	Type     jsonStrings
	actor    string
	object   objectRef
	hasCtx   bool
	embedded bool // the actor is an embedded object, which go-fed mishandles
}

func parseEnvelope(body []byte) (*envelope, error) {
	var raw struct {
		Context json.RawMessage `json:"@context"`
		ID      json.RawMessage `json:"id"`
		Type    jsonStrings     `json:"type"`
		Actor   json.RawMessage `json:"actor"`
		Object  json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	env := &envelope{Type: raw.Type, hasCtx: len(raw.Context) > 0 && string(raw.Context) != "null"}
	if json.Unmarshal(raw.ID, &env.id) != nil || hostOf(env.id) == "" {
		return nil, errors.New("the activity has no id")
	}
	if len(env.Type) == 0 {
		return nil, errors.New("the activity has no type")
	}
	var actors []any
	var one any
	if json.Unmarshal(raw.Actor, &actors) != nil {
		if json.Unmarshal(raw.Actor, &one) == nil && one != nil {
			actors = []any{one}
		}
	}
	if len(actors) != 1 || hostOf(idOf(actors[0])) == "" {
		return nil, errors.New("the activity must have exactly one actor")
	}
	env.actor = idOf(actors[0])
	_, env.embedded = actors[0].(map[string]any)
	if !sameHost(env.id, env.actor) {
		return nil, fmt.Errorf("activity %s is not on the host of its actor %s", env.id, env.actor)
	}
	env.object = envelopeObject(raw.Object)
	return env, nil
}

func envelopeObject(raw json.RawMessage) objectRef {
	var iri string
	if json.Unmarshal(raw, &iri) == nil {
		return objectRef{ID: iri}
	}
	var obj struct {
		ID     jsonID      `json:"id"`
		Type   jsonStrings `json:"type"`
		Actor  jsonID      `json:"actor"`
		Object jsonID      `json:"object"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return objectRef{}
	}
	return objectRef{ID: string(obj.ID), Types: obj.Type, Embedded: true, Actor: string(obj.Actor), Object: string(obj.Object)}
}

// isSelfDelete reports whether the activity deletes its own actor.
func (e *envelope) isSelfDelete() bool {
	return containsAny(e.Type, []string{"Delete"}) && e.object.ID == e.actor
}

// forGoFed returns the body go-fed can read. go-fed v1.0.0 fails on two
// forms other servers send: no @context at all (it errors, which would be
// a 500), and an embedded actor without a type (its authorization step
// errors on it, and it takes the activity's id for an embedded actor's).
// Both are rewritten: the ActivityStreams context added, the actor replaced
// by its id (already checked to be the signer). Extra @context entries
// (Fedify's) and unknown properties are fine as they are.
func (e *envelope) forGoFed(body []byte) ([]byte, error) {
	if e.hasCtx && !e.embedded {
		return body, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if !e.hasCtx {
		m["@context"] = activityStreamsContext
	}
	m["actor"] = e.actor
	return json.Marshal(m)
}

func containsAny(have []string, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}
