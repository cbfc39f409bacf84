package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"sync"

	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/referrals"
)

// Referrals over ActivityPub (FEDERATION.md, "Referrals"). The referrals
// store tells federation of every change inside the transaction that makes
// it (referralChange, below), as the directory does for publishing:
//   - an offered referral becomes a "referral-offer" job (referrals_worker.go):
//     its envelope needs the peer's key set, fetched over the network, so
//     the Offer is built outside any transaction;
//   - a withdrawn offer becomes an Undo, an answered one an Accept or a
//     Reject: these need no network and are recorded and queued for
//     delivery in the change's own transaction;
//   - a peer's notice that it passed our offer on is relayed upstream when
//     the request came to us from a peer too.
//
// What peers send is handled by referrals_inbox.go, keys by referrals_keys.go.

// referralFed is federation's side of referrals.
type referralFed struct {
	store    *referrals.Store
	resolver *keyResolver

	mu sync.Mutex
	// tamper, set by tests only, changes each Offer before it is stored and
	// sent, to check how peers refuse what was altered on the way.
	tamper func(peer string, offer map[string]any)
}

// newReferralFed wires referrals when the node has a referrals store, and
// subscribes to its changes.
func newReferralFed(f *Federation) *referralFed {
	if f.cfg.Referrals == nil {
		return nil
	}
	r := &referralFed{store: f.cfg.Referrals, resolver: newKeyResolver(f)}
	f.cfg.Referrals.OnChange(f.referralChange)
	return r
}

// KeyResolver returns the resolver of peers' referral keys that federation
// uses (nil without a referrals store), for tools and benchmarks that seal or
// open envelopes as the node does.
func (f *Federation) KeyResolver() referrals.KeyResolver {
	if f.refs == nil {
		return nil
	}
	return f.refs.resolver
}

// ReferralKeys is the URL of a coop's published referral keys (a JWK Set).
func (u URLs) ReferralKeys(slug string) string { return u.Actor(slug) + "/keys.json" }

// ReferralNote is the id of the Note that describes a request in the Offers
// a coop sends of it.
func (u URLs) ReferralNote(slug, publicID string) string {
	return u.Actor(slug) + "/referrals/" + publicID
}

// ReferralOffer is the id of the Offer of a request to one peer.
func (u URLs) ReferralOffer(slug, publicID string, referralID int64) string {
	return u.ReferralNote(slug, publicID) + "/offers/" + strconv.FormatInt(referralID, 10)
}

// referralChange is the referrals store's change hook. It runs inside the
// change's transaction: what it records and queues commits with the change.
func (f *Federation) referralChange(ctx context.Context, tx *sql.Tx, ch referrals.Change) error {
	if err := claimInboxActivity(ctx, tx); err != nil {
		return err
	}
	notice, relay := forwardNoticeFrom(ctx)
	relay = relay && ch.Request.Received()
	if len(ch.Offered) == 0 && len(ch.Withdrawn) == 0 && ch.Answered == nil && !relay {
		return nil
	}
	coop, err := coopOfTx(ctx, tx, ch.Request.CoopID)
	if err != nil {
		return err
	}
	for _, ref := range ch.Offered {
		args := referralOfferArgs{Referral: ref.ID, Coop: ref.CoopID, Request: ref.RequestID}
		if err := f.queue.insertTx(ctx, tx, []river.InsertManyParams{{Args: args}}); err != nil {
			return fmt.Errorf("federation: queue the offer of referral %d: %w", ref.ID, err)
		}
	}
	for _, ref := range ch.Withdrawn {
		offerID := ref.OfferID
		if offerID == "" {
			offerID = f.urls.ReferralOffer(coop.Slug, ch.Request.PublicID, ref.ID)
		}
		// An offer withdrawn before its job sent it was never seen by the
		// peer: the job finds it withdrawn and sends nothing, and nor does
		// this. (The job reads the referral's state after locking its row,
		// which this change has updated: one of the two sees the other.)
		sent, err := activityExists(ctx, tx, offerID)
		if err != nil {
			return err
		}
		if !sent {
			continue
		}
		act := f.withdrawActivity(coop, offerID, ref.Peer.ActorID)
		if err := f.sendReferralTx(ctx, tx, coop, act, offerID, ref.Peer.ActorID); err != nil {
			return err
		}
	}
	if a := ch.Answered; a != nil && a.OfferID != "" {
		act := f.answerActivity(coop, *a)
		if err := f.sendReferralTx(ctx, tx, coop, act, a.OfferID, a.Peer.ActorID); err != nil {
			return err
		}
	}
	if relay {
		act := f.forwardedActivity(coop, ch.Request.OfferID, ch.Request.FromActor, notice.To)
		if err := f.sendReferralTx(ctx, tx, coop, act, ch.Request.OfferID, ch.Request.FromActor); err != nil {
			return err
		}
	}
	return nil
}

// coopOfTx reads what activities need of a local coop inside tx.
func coopOfTx(ctx context.Context, tx *sql.Tx, coopID int64) (directory.Coop, error) {
	c := directory.Coop{ID: coopID}
	if err := tx.QueryRowContext(ctx, `SELECT slug FROM coops WHERE id = $1`, coopID).Scan(&c.Slug); err != nil {
		return c, fmt.Errorf("federation: read coop %d: %w", coopID, err)
	}
	return c, nil
}

// activityExists tells whether an activity of ours with this id is stored.
func activityExists(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM activities WHERE activity_id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("federation: read activities: %w", err)
	}
	return true, nil
}

// sendReferralTx records an activity of the coop (never public: referrals
// are between two coops) and queues its delivery to one actor's own inbox,
// inside tx. The inbox is the actor's personal one, which names the coop
// the activity is for. A peer not cached yet (nothing is fetched inside a
// transaction) gets a job that fetches it first.
func (f *Federation) sendReferralTx(ctx context.Context, tx *sql.Tx, coop directory.Coop, act map[string]any, objectID, to string) error {
	rowID, body, err := f.storeActivityBody(ctx, tx, coop.ID, act, objectID, false)
	if err != nil {
		return err
	}
	// Its delivery runs right after the commit (queue_eager.go): hand it
	// the activity rather than have it read back what was just written.
	// Registered before the delivery is queued, so it runs first.
	slug := coop.Slug
	f.db.AfterCommit(tx, func() {
		key, err := f.keys.For(context.Background(), ActorPath(slug))
		if err == nil {
			f.queue.acts.seed(rowID, body, f.urls.KeyID(slug), key)
		}
	})
	inbox, err := f.inboxOfTx(ctx, tx, to)
	if err != nil {
		return err
	}
	if inbox == "" {
		args := referralSendArgs{Activity: rowID, Coop: coop.ID, Actor: to}
		if err := f.queue.insertTx(ctx, tx, []river.InsertManyParams{{Args: args}}); err != nil {
			return fmt.Errorf("federation: queue a referral activity to %s: %w", to, err)
		}
		return nil
	}
	return f.deliverTo(ctx, tx, coop.ID, rowID, []string{inbox})
}

// inboxOfTx is the inbox of a coop of ours, or of a cached remote actor;
// "" when the actor is not cached.
func (f *Federation) inboxOfTx(ctx context.Context, tx *sql.Tx, actorID string) (string, error) {
	if c, ok, err := f.localCoop(ctx, actorID); err != nil {
		return "", err
	} else if ok {
		return f.urls.Inbox(c.Slug), nil
	}
	var inbox string
	err := tx.QueryRowContext(ctx, `SELECT inbox FROM remote_actors WHERE id = $1`, actorID).Scan(&inbox)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("federation: read remote actor: %w", err)
	}
	return inbox, nil
}

// The activities. Each embeds the Offer it is about as a stub (its id, type
// and actor), so that a receiver tells a referral's answer from a follow's
// without a lookup; the id alone is accepted as well.

// offerStub is an Offer named in another activity.
func offerStub(offerID, actor string) map[string]any {
	return map[string]any{"id": offerID, "type": "Offer", "actor": actor}
}

// offerActivity is the Offer of a request to ref's peer, carrying env.
func (f *Federation) offerActivity(coop directory.Coop, req referrals.Request, ref referrals.Referral, env referrals.Envelope, offerID string) map[string]any {
	noteID := f.urls.ReferralNote(coop.Slug, req.PublicID)
	note := f.requestNote(noteID, f.urls.Actor(coop.Slug), req, ref.Peer.ActorID, env)
	act := f.newActivity("Offer", coop, note, []string{ref.Peer.ActorID}, nil)
	act["id"] = offerID
	return act
}

// requestNote describes a request the way FEP-0837 describes a proposal
// (purpose "request", a primary Intent), as a Note for the software that
// knows no Proposal, with schema.org JobPosting terms for the rest. It is a
// projection for people and other software: a coopnet receiver trusts only
// the verified envelope in coopnet:referral.
func (f *Federation) requestNote(noteID, self string, req referrals.Request, peer string, env referrals.Envelope) map[string]any {
	if env.Forwards == nil {
		env.Forwards = []string{}
	}
	category := "other"
	if len(req.Categories) > 0 {
		category = req.Categories[0]
	}
	note := map[string]any{
		"id":           noteID,
		"type":         "Note",
		"attributedTo": self,
		"to":           []string{peer},
		"purpose":      "request",
		"name":         requestTitle(req),
		"content":      textToHTML(req.Description),
		"mediaType":    "text/html",
		"published":    apTime(req.CreatedAt),
		"unitBased":    false,
		"publishes": map[string]any{
			"type":               "Intent",
			"id":                 noteID + "#primary",
			"action":             "deliverService",
			"resourceConformsTo": Namespace + "category-" + category,
			"resourceQuantity":   map[string]any{"hasUnit": "one", "hasNumericalValue": "1"},
		},
		"schema:validThrough":    apTime(req.ExpiresAt),
		"coopnet:origin":         req.OriginActor,
		"coopnet:hop":            req.Hop + 1,
		"coopnet:hopLimit":       req.HopLimit,
		"coopnet:consentToShare": req.ConsentToShare,
		"coopnet:referral":       env,
	}
	setList(note, "schema:skills", req.Skills)
	setIf(note, "schema:inLanguage", req.Language)
	setIf(note, "coopnet:deadline", req.Deadline)
	if len(req.Categories) > 0 {
		note["coopnet:categories"] = req.Categories
	}
	if req.Country != "" || req.Region != "" {
		place := map[string]any{"type": "Place"}
		setIf(place, "name", req.Region)
		setIf(place, "schema:addressCountry", req.Country)
		note["schema:applicantLocationRequirements"] = place
	}
	if req.BudgetMin != nil || req.BudgetMax != nil {
		salary := map[string]any{"type": "schema:MonetaryAmount"}
		setIf(salary, "schema:currency", req.Currency)
		if req.BudgetMin != nil {
			salary["schema:minValue"] = *req.BudgetMin
		}
		if req.BudgetMax != nil {
			salary["schema:maxValue"] = *req.BudgetMax
		}
		note["schema:baseSalary"] = salary
	}
	return note
}

// requestTitle is the Note's name: the organization and the first words of
// the description.
func requestTitle(req referrals.Request) string {
	desc := shorten(strings.Join(strings.Fields(req.Description), " "), 80)
	if req.Organization == "" {
		return desc
	}
	return req.Organization + ": " + desc
}

// textToHTML turns a client's plain text into escaped HTML paragraphs.
func textToHTML(s string) string {
	var b strings.Builder
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if para = strings.TrimSpace(para); para == "" {
			continue
		}
		b.WriteString("<p>")
		b.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br>"))
		b.WriteString("</p>")
	}
	return b.String()
}

// answerActivity is the Accept or Reject of the offer that brought a request
// here (a received referral just answered).
func (f *Federation) answerActivity(coop directory.Coop, a referrals.Referral) map[string]any {
	to := []string{a.Peer.ActorID}
	offer := offerStub(a.OfferID, a.Peer.ActorID)
	if a.State == referrals.OfferAccepted {
		act := f.newActivity("Accept", coop, offer, to, nil)
		if a.Taker.ActorID != "" {
			taker := map[string]any{"type": "Organization", "id": a.Taker.ActorID}
			setIf(taker, "name", a.Taker.Name)
			act["coopnet:acceptedBy"] = taker
		}
		return act
	}
	act := f.newActivity("Reject", coop, offer, to, nil)
	setIf(act, "content", html.EscapeString(a.Reason))
	return act
}

// refusalActivity is the Reject of an Offer that could not be accepted at
// all: it did not verify, or may not go on. code is the machine reason.
func (f *Federation) refusalActivity(coop directory.Coop, offerID, offerer, code string) map[string]any {
	act := f.newActivity("Reject", coop, offerStub(offerID, offerer), []string{offerer}, nil)
	act["content"] = html.EscapeString(refusalText[code])
	act["coopnet:refusal"] = code
	return act
}

// withdrawActivity is the Undo of an Offer the coop sent.
func (f *Federation) withdrawActivity(coop directory.Coop, offerID, peer string) map[string]any {
	return f.newActivity("Undo", coop, offerStub(offerID, f.urls.Actor(coop.Slug)), []string{peer}, nil)
}

// forwardedActivity is the notice that the coop passed on the request that
// upstream's offer brought it: an Add of the coop it went to (the object)
// to that offer's trail (the target).
func (f *Federation) forwardedActivity(coop directory.Coop, offerID, upstream string, to referrals.Peer) map[string]any {
	next := map[string]any{"type": "Organization", "id": to.ActorID}
	setIf(next, "name", to.Name)
	act := f.newActivity("Add", coop, next, []string{upstream}, nil)
	act["target"] = offerStub(offerID, upstream)
	return act
}

// Refusal reasons, sent as coopnet:refusal in the Reject of an Offer that
// failed its checks, and the text that goes with each.
var refusalText = map[string]string{
	"bad-signature": "The referral's signatures could not be verified.",
	"not-for-us":    "The referral was not made for this coop.",
	"expired":       "The referral has expired.",
	"replayed":      "An offer with this id was received before, with other content.",
	"hop-limit":     "The referral was passed on more times than the client allowed.",
	"loop":          "This coop already had this request.",
	"blocked":       "This node does not federate with a coop the referral went through.",
	"no-consent":    "The client did not consent to the request being passed on.",
	"tampered":      "The referral was altered on the way.",
	"invalid":       "The referral is not valid.",
}

// refusalCode sorts an error of the referrals store (or of the key
// resolver): final ones get a refusal reason; the others (the database, a
// key set that could not be fetched) are worth retrying.
func refusalCode(err error) (code string, final bool) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{ErrHostRefused, "blocked"},
		{ErrPrivateAddress, "blocked"},
		{referrals.ErrBadSignature, "bad-signature"},
		{referrals.ErrNotForUs, "not-for-us"},
		{referrals.ErrExpired, "expired"},
		{referrals.ErrReplay, "replayed"},
		{referrals.ErrHopLimit, "hop-limit"},
		{referrals.ErrLoop, "loop"},
		{referrals.ErrNoConsent, "no-consent"},
		{referrals.ErrTampered, "tampered"},
		{referrals.ErrInvalid, "invalid"},
		{referrals.ErrInvalidTransition, "invalid"},
		{referrals.ErrNotFound, "invalid"},
		{referrals.ErrConflict, "invalid"},
		{referrals.ErrContactPurged, "invalid"},
	} {
		if errors.Is(err, c.err) {
			return c.code, true
		}
	}
	return "", false
}

// Context values that let the change hook act for the inbox inside the
// store's transaction.

// inboxClaim is an incoming activity to record as seen in the transaction
// that applies it, so that it is applied once: two copies arriving at once
// both reach the store, and the second one's insert finds the first's row
// and rolls its own change back (errSeenBefore).
type inboxClaim struct {
	id, actor string
	tx        *sql.Tx // the transaction that recorded it
}

type inboxClaimKey struct{}

// errSeenBefore rolls back a change made for an activity applied already.
var errSeenBefore = errors.New("federation: activity applied before")

func withInboxClaim(ctx context.Context, c *inboxClaim) context.Context {
	return context.WithValue(ctx, inboxClaimKey{}, c)
}

// claimInboxActivity records the activity being applied as seen, in tx.
// A change that is tried again (a race lost in the store) runs in a new
// transaction and records it again.
func claimInboxActivity(ctx context.Context, tx *sql.Tx) error {
	c, _ := ctx.Value(inboxClaimKey{}).(*inboxClaim)
	if c == nil || c.tx == tx {
		return nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO inbox_seen (activity_id, actor_id, received_at) VALUES ($1, $2, $3)
		ON CONFLICT (activity_id) DO NOTHING`, c.id, c.actor, db.Now())
	if err != nil {
		return fmt.Errorf("federation: record activity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errSeenBefore
	}
	c.tx = tx
	return nil
}

type forwardNoticeKey struct{}

// withForwardNotice marks a store call as applying a peer's notice that it
// passed our offer on, so that the hook relays it upstream.
func withForwardNotice(ctx context.Context, n referrals.Forwarded) context.Context {
	return context.WithValue(ctx, forwardNoticeKey{}, n)
}

func forwardNoticeFrom(ctx context.Context) (referrals.Forwarded, bool) {
	n, ok := ctx.Value(forwardNoticeKey{}).(referrals.Forwarded)
	return n, ok
}
