package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-fed/activity/pub"
	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"

	"github.com/coopnet/coopnet/directory"
)

// go-fed/activity runs the inbox POST once our own checks have passed
// (inbox.go): it parses the activity into typed values, de-duplicates it
// through our pub.Database (inbox_seen) and calls our callbacks, which
// translate the typed values into plain structs (incoming) at once and
// apply them (apply.go). What go-fed would otherwise do on its own is
// switched off here:
//   - delivery and fetching: NewTransport returns a transport that refuses
//     (our queue delivers, with inboxes from our database);
//   - inbox forwarding: Exists reports the activity seen once its effect is
//     committed, so go-fed's forwarding stops at its first check, and
//     FilterForwarding keeps no recipient anyway;
//   - its default side effects (following collections, likes, shares):
//     every activity type it knows a default for gets a callback of ours.

// Compile-time checks that the adapters implement go-fed's interfaces.
var (
	_ pub.Database           = (*goFedDB)(nil)
	_ pub.CommonBehavior     = (*goFedProtocol)(nil)
	_ pub.FederatingProtocol = (*goFedProtocol)(nil)
	_ pub.Clock              = goFedClock{}
	_ pub.Transport          = refusingTransport{}
)

// inboxState is what the inbox knows of the request being processed; it
// travels to go-fed's hooks and our callbacks in the context.
type inboxState struct {
	id       string
	actor    RemoteActor // verified: the key's owner and the activity's actor
	body     []byte
	env      *envelope
	recorded bool // in inbox_seen: applied now, or before
	later    []later
	// coop is the coop whose inbox the activity was posted to (nil for the
	// shared inbox): localCoop takes it from here instead of reading it again.
	coop *directory.Coop
}

type inboxStateKey struct{}

func withInboxState(ctx context.Context, st *inboxState) context.Context {
	return context.WithValue(ctx, inboxStateKey{}, st)
}

func inboxStateFrom(ctx context.Context) *inboxState {
	st, _ := ctx.Value(inboxStateKey{}).(*inboxState)
	return st
}

// newGoFedActor builds the go-fed actor that serves both inboxes.
func newGoFedActor(f *Federation, locks *iriLocks, reads readSlots) pub.FederatingActor {
	p := &goFedProtocol{f: f, batch: newInboxBatcher(f)}
	p.callbacks = []any{
		func(c context.Context, a vocab.ActivityStreamsFollow) error { return p.apply(c, a, f.applyFollow) },
		// Referral activities go to the referrals store (referrals_inbox.go),
		// the rest of these to the follows.
		func(c context.Context, a vocab.ActivityStreamsUndo) error {
			return p.applyReferralOr(c, a, f.applyUndo)
		},
		func(c context.Context, a vocab.ActivityStreamsAccept) error {
			return p.applyReferralOr(c, a, f.applyFollowAnswer)
		},
		func(c context.Context, a vocab.ActivityStreamsReject) error {
			return p.applyReferralOr(c, a, f.applyFollowAnswer)
		},
		func(c context.Context, a vocab.ActivityStreamsOffer) error { return p.applyReferralOr(c, a, nil) },
		func(c context.Context, a vocab.ActivityStreamsCreate) error {
			return p.apply(c, a, f.applyCreateOrUpdate)
		},
		func(c context.Context, a vocab.ActivityStreamsUpdate) error {
			return p.apply(c, a, f.applyCreateOrUpdate)
		},
		func(c context.Context, a vocab.ActivityStreamsDelete) error { return p.apply(c, a, f.applyDelete) },
		// Types go-fed has default effects for that we do not want.
		// (An Add may be a referral's passed-on notice; any other is ignored.)
		func(c context.Context, a vocab.ActivityStreamsAdd) error { return p.applyReferralOr(c, a, nil) },
		func(c context.Context, a vocab.ActivityStreamsRemove) error { return p.ignore(c, a) },
		func(c context.Context, a vocab.ActivityStreamsLike) error { return p.ignore(c, a) },
		func(c context.Context, a vocab.ActivityStreamsAnnounce) error { return p.ignore(c, a) },
		func(c context.Context, a vocab.ActivityStreamsBlock) error { return p.ignore(c, a) },
	}
	return pub.NewFederatingActor(p, p, &goFedDB{f: f, locks: locks, reads: reads}, goFedClock{now: f.cfg.Now})
}

// goFedProtocol implements go-fed's CommonBehavior and FederatingProtocol.
type goFedProtocol struct {
	f         *Federation
	batch     *inboxBatcher
	callbacks []any
}

// apply translates the activity and runs effect in a transaction that also
// records the activity in inbox_seen: the batch's (inbox_batch.go), in a
// savepoint of its own. When the insert finds the id there already (the
// same activity arriving twice at once, maybe in two processes), the effect
// is skipped: it is applied exactly once. apply returns once the
// transaction has committed.
func (p *goFedProtocol) apply(ctx context.Context, a pub.Activity, effect func(context.Context, *sql.Tx, incoming) (later, error)) error {
	st := inboxStateFrom(ctx)
	if st == nil {
		return errors.New("federation: go-fed callback outside an inbox request")
	}
	in := translate(a, st)
	l, err := p.batch.apply(ctx, in, effect)
	if err != nil {
		st.later = nil
		if !errors.Is(err, errRefused) && !errors.Is(err, errInvalidActivity) {
			err = fmt.Errorf("%w: %w", errStore, err)
		}
		return err
	}
	if l != nil {
		st.later = append(st.later, l)
	}
	st.recorded = true
	return nil
}

func (p *goFedProtocol) ignore(ctx context.Context, a pub.Activity) error {
	p.f.log.DebugContext(ctx, "activity ignored", "type", a.GetTypeName())
	return nil
}

// translate turns go-fed's typed activity into incoming: the type, and
// whether the object is an IRI or an embedded object (and of an embedded
// activity, its actor and object) come from the typed values. The actor is
// the verified signer (the inbox checked that the activity names it). Ids
// are kept byte for byte as the peer wrote them, from the body decoded
// before go-fed ran: go-fed re-encodes IRIs through url.URL, and an id must
// match what the peer's collections and later activities say. An object of
// a type go-fed does not know comes back untyped: its types are read from
// the body too.
func translate(a pub.Activity, st *inboxState) incoming {
	in := incoming{ID: st.id, Type: a.GetTypeName(), Actor: st.actor, Body: st.body}
	if obj := a.GetActivityStreamsObject(); obj != nil && obj.Len() > 0 {
		in.Object = objectRefOf(obj.At(0))
	}
	raw := st.env.object
	if raw.ID != "" {
		in.Object.ID = raw.ID
	}
	for _, t := range raw.Types {
		if !slices.Contains(in.Object.Types, t) {
			in.Object.Types = append(in.Object.Types, t)
		}
	}
	in.Object.Embedded = in.Object.Embedded || raw.Embedded
	if raw.Actor != "" {
		in.Object.Actor = raw.Actor
	}
	if raw.Object != "" {
		in.Object.Object = raw.Object
	}
	return in
}

func objectRefOf(it vocab.ActivityStreamsObjectPropertyIterator) objectRef {
	if it.IsIRI() {
		return objectRef{ID: it.GetIRI().String()}
	}
	t := it.GetType()
	if t == nil {
		return objectRef{}
	}
	ref := objectRef{Embedded: true, Types: []string{t.GetTypeName()}}
	if id, err := pub.GetId(t); err == nil {
		ref.ID = id.String()
	}
	if act, ok := t.(pub.Activity); ok {
		if actors := act.GetActivityStreamsActor(); actors != nil && actors.Len() > 0 {
			if id, err := pub.ToId(actors.At(0)); err == nil {
				ref.Actor = id.String()
			}
		}
		if objs := act.GetActivityStreamsObject(); objs != nil && objs.Len() > 0 {
			if id, err := pub.ToId(objs.At(0)); err == nil {
				ref.Object = id.String()
			}
		}
	}
	return ref
}

// PostInboxRequestBodyHook implements pub.FederatingProtocol.
func (p *goFedProtocol) PostInboxRequestBodyHook(c context.Context, _ *http.Request, _ pub.Activity) (context.Context, error) {
	return c, nil
}

// AuthenticatePostInbox implements pub.FederatingProtocol: the inbox has
// verified the signature before go-fed runs, and left the result in c.
func (p *goFedProtocol) AuthenticatePostInbox(c context.Context, w http.ResponseWriter, _ *http.Request) (context.Context, bool, error) {
	if st := inboxStateFrom(c); st != nil && st.actor.ID != "" {
		return c, true, nil
	}
	w.WriteHeader(http.StatusUnauthorized)
	return c, false, nil
}

// Blocked implements pub.FederatingProtocol with the node's policy (the
// inbox checked it already for the signer; this covers every actor named).
func (p *goFedProtocol) Blocked(c context.Context, actorIRIs []*url.URL) (bool, error) {
	st := inboxStateFrom(c)
	for _, iri := range actorIRIs {
		if st != nil && iri.String() == st.actor.ID {
			continue
		}
		ok, err := p.f.HostAllowed(c, strings.ToLower(iri.Host))
		if err != nil {
			return true, fmt.Errorf("%w: %w", errStore, err)
		}
		if !ok {
			return true, nil
		}
	}
	return false, nil
}

// FederatingCallbacks implements pub.FederatingProtocol. No wrapped
// callbacks: every type go-fed has defaults for is among ours.
func (p *goFedProtocol) FederatingCallbacks(context.Context) (pub.FederatingWrappedCallbacks, []any, error) {
	return pub.FederatingWrappedCallbacks{}, slices.Clone(p.callbacks), nil
}

// DefaultCallback implements pub.FederatingProtocol for types we have no
// callback for; the inbox lets few of them reach go-fed.
func (p *goFedProtocol) DefaultCallback(c context.Context, a pub.Activity) error {
	p.f.log.InfoContext(c, "activity type not handled", "type", a.GetTypeName())
	return nil
}

// MaxInboxForwardingRecursionDepth implements pub.FederatingProtocol.
func (p *goFedProtocol) MaxInboxForwardingRecursionDepth(context.Context) int { return 1 }

// MaxDeliveryRecursionDepth implements pub.FederatingProtocol.
func (p *goFedProtocol) MaxDeliveryRecursionDepth(context.Context) int { return 1 }

// FilterForwarding implements pub.FederatingProtocol: nothing is forwarded.
func (p *goFedProtocol) FilterForwarding(context.Context, []*url.URL, pub.Activity) ([]*url.URL, error) {
	return nil, nil
}

// GetInbox implements pub.FederatingProtocol; inboxes are not served.
func (p *goFedProtocol) GetInbox(context.Context, *http.Request) (vocab.ActivityStreamsOrderedCollectionPage, error) {
	return streams.NewActivityStreamsOrderedCollectionPage(), nil
}

// AuthenticateGetInbox implements pub.CommonBehavior; never called, as
// no GET route reaches go-fed.
func (p *goFedProtocol) AuthenticateGetInbox(c context.Context, w http.ResponseWriter, _ *http.Request) (context.Context, bool, error) {
	w.WriteHeader(http.StatusMethodNotAllowed)
	return c, false, nil
}

// AuthenticateGetOutbox implements pub.CommonBehavior; never called.
func (p *goFedProtocol) AuthenticateGetOutbox(c context.Context, w http.ResponseWriter, _ *http.Request) (context.Context, bool, error) {
	w.WriteHeader(http.StatusMethodNotAllowed)
	return c, false, nil
}

// GetOutbox implements pub.CommonBehavior; outboxes are served by
// collections.go.
func (p *goFedProtocol) GetOutbox(context.Context, *http.Request) (vocab.ActivityStreamsOrderedCollectionPage, error) {
	return streams.NewActivityStreamsOrderedCollectionPage(), nil
}

// NewTransport implements pub.CommonBehavior with a transport that refuses.
func (p *goFedProtocol) NewTransport(context.Context, *url.URL, string) (pub.Transport, error) {
	return refusingTransport{}, nil
}

// refusingTransport is go-fed's only way to the network, closed: go-fed
// never fetches nor delivers for us.
type refusingTransport struct{}

var errGoFedTransport = errors.New("federation: go-fed does not fetch or deliver here")

// Dereference implements pub.Transport.
func (refusingTransport) Dereference(context.Context, *url.URL) ([]byte, error) {
	return nil, errGoFedTransport
}

// Deliver implements pub.Transport.
func (refusingTransport) Deliver(context.Context, []byte, *url.URL) error { return errGoFedTransport }

// BatchDeliver implements pub.Transport; an empty batch is no delivery.
func (refusingTransport) BatchDeliver(_ context.Context, _ []byte, to []*url.URL) error {
	if len(to) == 0 {
		return nil
	}
	return errGoFedTransport
}

// goFedClock implements pub.Clock with the node's clock.
type goFedClock struct{ now func() time.Time }

// Now implements pub.Clock.
func (c goFedClock) Now() time.Time { return c.now() }

// goFedDB implements pub.Database over our tables.
type goFedDB struct {
	f     *Federation
	locks *iriLocks
	reads readSlots // the inbox's (nil: no limit)
}

// Lock implements pub.Database (see iriLocks). Our inboxes are not locked:
// go-fed locks an inbox to make its read-modify-write of the inbox
// collection atomic, and ours has none (the id is claimed by an insert in
// the effect's transaction), while the lock would make every POST to the
// shared inbox wait for the one before it.
func (d *goFedDB) Lock(c context.Context, id *url.URL) error {
	if d.isInbox(id) {
		return nil
	}
	return d.locks.lock(c, id.String())
}

// Unlock implements pub.Database.
func (d *goFedDB) Unlock(c context.Context, id *url.URL) error {
	if !d.isInbox(id) {
		d.locks.unlock(c, id.String())
	}
	return nil
}

func (d *goFedDB) isInbox(id *url.URL) bool {
	owns, _ := d.Owns(context.Background(), id)
	return owns && strings.HasSuffix(id.Path, "/inbox")
}

// InboxContains implements pub.Database: an activity was received when its
// id is in inbox_seen (inboxes are not kept per actor: the id is enough).
// The activity being processed is reported new without a read: the insert
// into inbox_seen in its transaction decides (a copy seen before is then
// skipped there, and answered the same), and the read would only repeat it.
func (d *goFedDB) InboxContains(c context.Context, _, id *url.URL) (bool, error) {
	if st := inboxStateFrom(c); st != nil && st.id == id.String() && !st.recorded {
		return false, nil
	}
	return d.seen(c, id.String())
}

func (d *goFedDB) seen(c context.Context, id string) (bool, error) {
	var one int
	release := d.reads.acquire(c)
	err := d.f.db.QueryRow(c, `SELECT 1 FROM inbox_seen WHERE activity_id = $1`, id).Scan(&one)
	release()
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: read inbox_seen: %w", errStore, err)
	}
	return true, nil
}

// GetInbox implements pub.Database: an empty page, to which go-fed adds
// the new activity and hands back to SetInbox.
func (d *goFedDB) GetInbox(context.Context, *url.URL) (vocab.ActivityStreamsOrderedCollectionPage, error) {
	return streams.NewActivityStreamsOrderedCollectionPage(), nil
}

// SetInbox implements pub.Database. It writes nothing: the id goes into
// inbox_seen in the transaction that applies the activity
// (goFedProtocol.apply), so that an effect that fails leaves it unseen and
// the sender's retry applies it, and two copies arriving at once (even in
// two processes) are applied once.
func (d *goFedDB) SetInbox(context.Context, vocab.ActivityStreamsOrderedCollectionPage) error {
	return nil
}

// Owns implements pub.Database: ids on this node's host.
func (d *goFedDB) Owns(_ context.Context, id *url.URL) (bool, error) {
	return strings.EqualFold(id.Host, d.f.urls.Base.Host), nil
}

// ActorForOutbox implements pub.Database.
func (d *goFedDB) ActorForOutbox(_ context.Context, outbox *url.URL) (*url.URL, error) {
	return d.boxActor(outbox, "/outbox")
}

// ActorForInbox implements pub.Database.
func (d *goFedDB) ActorForInbox(_ context.Context, inbox *url.URL) (*url.URL, error) {
	return d.boxActor(inbox, "/inbox")
}

// boxActor maps /coops/:slug/inbox (or outbox) to the coop's actor, and the
// shared inbox to the instance actor.
func (d *goFedDB) boxActor(box *url.URL, suffix string) (*url.URL, error) {
	path := strings.TrimSuffix(box.Path, "/")
	if path == suffix || path == InstanceActorPath+suffix {
		return url.Parse(d.f.urls.InstanceActor())
	}
	if slug, ok := strings.CutPrefix(strings.TrimSuffix(path, suffix), ActorPath("")); ok && strings.HasSuffix(path, suffix) && slug != "" {
		return url.Parse(d.f.urls.Actor(slug))
	}
	return nil, fmt.Errorf("federation: %s is not a box of this node", box)
}

// OutboxForInbox implements pub.Database.
func (d *goFedDB) OutboxForInbox(_ context.Context, inbox *url.URL) (*url.URL, error) {
	actor, err := d.boxActor(inbox, "/inbox")
	if err != nil {
		return nil, err
	}
	return url.Parse(actor.String() + "/outbox")
}

// Exists implements pub.Database. The activity being processed exists
// once recorded in inbox_seen; other remote ids when seen there; our own
// ids when they name an activity or a coop of ours.
func (d *goFedDB) Exists(c context.Context, id *url.URL) (bool, error) {
	s := id.String()
	if st := inboxStateFrom(c); st != nil && s == st.id && st.recorded {
		return true, nil
	}
	if owns, _ := d.Owns(c, id); !owns {
		return d.seen(c, s)
	}
	if _, ok, err := d.f.localCoop(c, d.canonical(id)); err != nil {
		return false, fmt.Errorf("%w: %w", errStore, err)
	} else if ok {
		return true, nil
	}
	var one int
	err := d.f.db.QueryRow(c, `SELECT 1 FROM activities WHERE activity_id = $1`, d.canonical(id)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: read activities: %w", errStore, err)
	}
	return true, nil
}

// canonical rebuilds an id of ours on the base URL: go-fed makes inbox
// IRIs https whatever the node's scheme.
func (d *goFedDB) canonical(id *url.URL) string {
	return strings.TrimSuffix(d.f.urls.Base.String(), "/") + id.EscapedPath()
}

// Get implements pub.Database for what go-fed may ask of ours: a coop's
// actor and collections, as bare typed values with their ids. Documents
// are served by actor.go and collections.go, never through go-fed.
func (d *goFedDB) Get(c context.Context, id *url.URL) (vocab.Type, error) {
	s := d.canonical(id)
	for _, suffix := range []string{"/followers", "/following", "/outbox", "/services"} {
		if base, ok := strings.CutSuffix(s, suffix); ok {
			if _, found, err := d.f.localCoop(c, base); err != nil || !found {
				return nil, fmt.Errorf("federation: get %s: not found", s)
			}
			col := streams.NewActivityStreamsOrderedCollection()
			col.SetJSONLDId(streamsID(id))
			return col, nil
		}
	}
	if _, found, err := d.f.localCoop(c, s); err == nil && found {
		org := streams.NewActivityStreamsOrganization()
		org.SetJSONLDId(streamsID(id))
		return org, nil
	}
	return nil, fmt.Errorf("federation: get %s: not served through go-fed", s)
}

func streamsID(id *url.URL) vocab.JSONLDIdProperty {
	p := streams.NewJSONLDIdProperty()
	p.Set(id)
	return p
}

// Create implements pub.Database; our callbacks store what is kept.
func (d *goFedDB) Create(context.Context, vocab.Type) error { return nil }

// Update implements pub.Database; our callbacks store what is kept.
func (d *goFedDB) Update(context.Context, vocab.Type) error { return nil }

// Delete implements pub.Database; our callbacks delete what is kept.
func (d *goFedDB) Delete(context.Context, *url.URL) error { return nil }

// GetOutbox implements pub.Database; go-fed never posts to our outboxes.
func (d *goFedDB) GetOutbox(context.Context, *url.URL) (vocab.ActivityStreamsOrderedCollectionPage, error) {
	return streams.NewActivityStreamsOrderedCollectionPage(), nil
}

// SetOutbox implements pub.Database; the outbox is written by publish.go.
func (d *goFedDB) SetOutbox(context.Context, vocab.ActivityStreamsOrderedCollectionPage) error {
	return errors.New("federation: the outbox is not written through go-fed")
}

// NewID implements pub.Database with our activity ids.
func (d *goFedDB) NewID(context.Context, vocab.Type) (*url.URL, error) {
	return url.Parse(d.f.urls.Activity(newActivityToken()))
}

// Followers implements pub.Database: a coop's accepted followers.
func (d *goFedDB) Followers(c context.Context, actor *url.URL) (vocab.ActivityStreamsCollection, error) {
	return d.actorCollection(c, actor, `SELECT actor_id FROM followers WHERE coop_id = $1 AND state = 'accepted'`)
}

// Following implements pub.Database: whom a coop follows (accepted).
func (d *goFedDB) Following(c context.Context, actor *url.URL) (vocab.ActivityStreamsCollection, error) {
	return d.actorCollection(c, actor, `SELECT actor_id FROM following WHERE coop_id = $1 AND state = 'accepted'`)
}

// Liked implements pub.Database: coops like nothing.
func (d *goFedDB) Liked(context.Context, *url.URL) (vocab.ActivityStreamsCollection, error) {
	return streams.NewActivityStreamsCollection(), nil
}

func (d *goFedDB) actorCollection(c context.Context, actor *url.URL, query string) (vocab.ActivityStreamsCollection, error) {
	col := streams.NewActivityStreamsCollection()
	coop, ok, err := d.f.localCoop(c, d.canonical(actor))
	if err != nil || !ok {
		return col, err
	}
	ids, err := d.f.queryStrings(c, query, coop.ID)
	if err != nil {
		return nil, err
	}
	items := streams.NewActivityStreamsItemsProperty()
	for _, s := range ids {
		if u, err := url.Parse(s); err == nil {
			items.AppendIRI(u)
		}
	}
	col.SetActivityStreamsItems(items)
	return col, nil
}

// iriLocks are the per-IRI locks go-fed asks for. go-fed leaves their
// semantics to us and does not always unlock (some error paths return with
// a lock held), so they are: held per request (the inboxState), re-entrant
// for that request (Lock twice is no deadlock), idempotent to unlock, and
// all released when the request ends, whatever go-fed did.
type iriLocks struct {
	mu   sync.Mutex
	held map[string]*iriLock
}

type iriLock struct {
	owner *inboxState
	done  chan struct{}
}

func newIRILocks() *iriLocks { return &iriLocks{held: map[string]*iriLock{}} }

func (l *iriLocks) lock(ctx context.Context, iri string) error {
	owner := inboxStateFrom(ctx)
	for {
		l.mu.Lock()
		cur := l.held[iri]
		if cur == nil {
			l.held[iri] = &iriLock{owner: owner, done: make(chan struct{})}
			l.mu.Unlock()
			return nil
		}
		if owner != nil && cur.owner == owner {
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		select {
		case <-cur.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *iriLocks) unlock(ctx context.Context, iri string) {
	owner := inboxStateFrom(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.held[iri]; cur != nil && cur.owner == owner {
		delete(l.held, iri)
		close(cur.done)
	}
}

// releaseAll frees every lock a request still holds.
func (l *iriLocks) releaseAll(owner *inboxState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for iri, cur := range l.held {
		if cur.owner == owner {
			delete(l.held, iri)
			close(cur.done)
		}
	}
}
