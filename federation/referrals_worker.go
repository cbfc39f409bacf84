package federation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/referrals"
)

// The referral jobs run on the delivery queue, with its retry schedule:
//   - "referral-offer" builds and queues the Offer of one referral. Its
//     envelope needs the peer's published keys (and, to pass a request on,
//     every signer's), fetched over the network, so it runs outside the
//     transaction that made the referral, which only inserted the job;
//   - "referral-send" delivers a referral activity (an Accept, a Reject, an
//     Undo, a notice) to an actor that was not cached when the activity was
//     made: it fetches the actor, then queues the delivery.

const (
	referralOfferKind = "referral-offer"
	referralSendKind  = "referral-send"
)

// referralOfferArgs is the job of sending one referral's Offer.
type referralOfferArgs struct {
	Referral int64 `json:"referral"`
	Coop     int64 `json:"coop"`
	Request  int64 `json:"request"`
}

// Kind implements river.JobArgs.
func (referralOfferArgs) Kind() string { return referralOfferKind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (referralOfferArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: deliverQueue, MaxAttempts: deliverMaxAttempts}
}

// referralSendArgs is the job of delivering a stored activity to an actor
// whose inbox must be fetched first.
type referralSendArgs struct {
	Activity int64  `json:"activity"`
	Coop     int64  `json:"coop"`
	Actor    string `json:"actor"`
}

// Kind implements river.JobArgs.
func (referralSendArgs) Kind() string { return referralSendKind }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (referralSendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: deliverQueue, MaxAttempts: deliverMaxAttempts}
}

// addReferralWorkers registers the referral jobs' workers on the queue's
// client (queue.build). Without a referrals store no such job is inserted,
// and the workers are registered all the same, for jobs left from before.
// They also run at commit (queue_eager.go): eager gets them by kind.
func (f *Federation) addReferralWorkers(workers *river.Workers, eager map[string]eagerWork) error {
	offer, send := &referralOfferWorker{f: f}, &referralSendWorker{f: f}
	if err := river.AddWorkerSafely(workers, offer); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, send); err != nil {
		return err
	}
	eager[referralOfferKind], eager[referralSendKind] = eagerKind(offer), eagerKind(send)
	return nil
}

type referralOfferWorker struct {
	river.WorkerDefaults[referralOfferArgs]
	f *Federation
}

// Work implements river.Worker: a final error (the peer publishes no key,
// the referral may not go on) cancels the job; others are retried.
func (w *referralOfferWorker) Work(ctx context.Context, job *river.Job[referralOfferArgs]) error {
	a := job.Args
	if w.f.refs == nil {
		return river.JobCancel(errNoRefs)
	}
	peer, err := w.f.sendOffer(ctx, a)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if code, final := refusalCode(err); final {
		// The referral stays offered at our end, marked undelivered: the
		// coop's members withdraw it and refer elsewhere.
		w.f.log.WarnContext(ctx, "referral not sent", "referral", a.Referral, "peer", peer, "reason", code, "error", err)
		w.f.offerGivenUp(ctx, a.Referral, offerRefusalWords(code, err))
		return river.JobCancel(err)
	}
	w.f.log.InfoContext(ctx, "referral not sent yet", "referral", a.Referral, "peer", peer, "attempt", job.Attempt, "error", err)
	if job.Attempt >= job.MaxAttempts {
		w.f.offerGivenUp(ctx, a.Referral, "It could not be sent after "+strconv.Itoa(job.Attempt)+" attempts: "+undeliveredReason(err))
	}
	return err
}

// offerGivenUp records on a referral that its Offer will not be sent, so
// that the coop's members see it on the request's page and hear of it by
// e-mail. Recording it twice does nothing, so the runs at commit and River's
// may both report the same failure. Failing to record it is only logged:
// the job's fate stands.
func (f *Federation) offerGivenUp(ctx context.Context, referralID int64, reason string) {
	if f.refs == nil {
		return
	}
	_, err := f.refs.store.MarkUndelivered(ctx, referralID, reason)
	if err != nil && !errors.Is(err, referrals.ErrNotFound) {
		f.log.WarnContext(ctx, "referral not marked undelivered", "referral", referralID, "error", err)
	}
}

// deliveryGivenUp records a delivery given up on the referral it was about,
// when it carried a referral's Offer (offerGivenUp), or a reply about one:
// our answer to a referral received, our withdrawal of one sent. Most
// deliveries are none of these (an Undo of a Follow finds no referral).
func (f *Federation) deliveryGivenUp(ctx context.Context, a deliverArgs, cause error) {
	if f.refs == nil {
		return
	}
	var id, typ, object string
	var coopID int64
	err := f.db.QueryRow(ctx, `SELECT activity_id, type, object_id, coop_id FROM activities WHERE id = $1`,
		a.Activity).Scan(&id, &typ, &object, &coopID)
	reason := a.Host + " did not take it: " + undeliveredReason(cause)
	if err == nil {
		switch typ {
		case "Offer":
			_, err = f.refs.store.MarkOfferUndelivered(ctx, id, reason)
		case "Accept", "Reject", "Undo":
			_, err = f.refs.store.MarkReplyUndelivered(ctx, coopID, object, reason)
		}
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !errors.Is(err, referrals.ErrNotFound) {
		f.log.WarnContext(ctx, "referral not marked undelivered", "activity", a.Activity, "error", err)
	}
}

// offerRefusalWords says for the coop's members why an Offer will not be
// sent, from its refusal code; the error stays in the log.
func offerRefusalWords(code string, err error) string {
	switch code {
	case "blocked":
		return "This node's federation policy blocks the coop's server."
	case "expired":
		return "The request expired before it could be sent."
	case "hop-limit":
		return "The request has been passed on as many times as it may be."
	case "loop":
		return "The coop has had this request already."
	case "no-consent":
		return "The client did not agree to their request being passed on."
	}
	return "It could not be sent: " + undeliveredReason(err)
}

// undeliveredReason is a cause as the coop's members read it.
func undeliveredReason(cause error) string {
	return strings.TrimPrefix(cause.Error(), "federation: ")
}

// errNoRefs stops jobs when the node has no referrals store.
var errNoRefs = errors.New("federation: referrals are not enabled on this node")

// sendOffer builds the Offer of a referral and queues its delivery; when the
// request came from a peer, the notice that it was passed on goes to that
// peer in the same transaction. It returns the peer, for the log.
func (f *Federation) sendOffer(ctx context.Context, a referralOfferArgs) (string, error) {
	store := f.refs.store
	refs, err := store.Referrals(ctx, a.Coop, a.Request)
	if err != nil {
		return "", err
	}
	var ref referrals.Referral
	for _, r := range refs {
		if r.ID == a.Referral {
			ref = r
		}
	}
	if ref.ID == 0 || ref.Direction != referrals.Sent {
		return "", fmt.Errorf("%w: sent referral %d of request %d", referrals.ErrNotFound, a.Referral, a.Request)
	}
	if ref.State != referrals.OfferOffered {
		return ref.Peer.ActorID, nil // withdrawn before it went out
	}
	coop, err := f.dir.CoopByID(ctx, a.Coop)
	if errors.Is(err, directory.ErrNotFound) {
		return ref.Peer.ActorID, fmt.Errorf("%w: coop %d", referrals.ErrNotFound, a.Coop)
	}
	if err != nil {
		return ref.Peer.ActorID, err
	}
	req, err := store.RequestByID(ctx, a.Coop, a.Request)
	if err != nil {
		return ref.Peer.ActorID, err
	}
	offerID := ref.OfferID
	if offerID == "" {
		offerID = f.urls.ReferralOffer(coop.Slug, req.PublicID, ref.ID)
	}
	// Sent before (the job ran, and failed to record it was done): an
	// envelope made again would differ, and the peer refuse it as a replay.
	// The offer id is recorded in the transaction that stores the Offer, so
	// without one nothing was stored.
	if ref.OfferID != "" {
		if sent, err := f.activitySent(ctx, offerID); err != nil || sent {
			return ref.Peer.ActorID, err
		}
	}
	env, err := store.EnvelopeForRequest(ctx, ref, req, f.refs.resolver)
	if err != nil {
		return ref.Peer.ActorID, err
	}
	act := f.offerActivity(coop, req, ref, env, offerID)
	f.refs.mu.Lock()
	if tamper := f.refs.tamper; tamper != nil {
		tamper(ref.Peer.ActorID, act)
	}
	f.refs.mu.Unlock()
	err = f.db.Tx(ctx, func(tx *sql.Tx) error {
		if open, err := referralOpenTx(ctx, tx, f.db.Dialect(), ref.ID); err != nil || !open {
			return err // withdrawn meanwhile: nothing goes out
		}
		if ref.OfferID == "" {
			if err := store.SetOfferIDTx(ctx, tx, ref.ID, offerID); err != nil {
				return err
			}
		}
		noteID := f.urls.ReferralNote(coop.Slug, req.PublicID)
		if err := f.sendReferralTx(ctx, tx, coop, act, noteID, ref.Peer.ActorID); err != nil {
			return err
		}
		if !req.Received() || req.OfferID == "" {
			return nil
		}
		notice := f.forwardedActivity(coop, req.OfferID, req.FromActor, ref.Peer)
		return f.sendReferralTx(ctx, tx, coop, notice, req.OfferID, req.FromActor)
	})
	return ref.Peer.ActorID, err
}

// activitySent tells whether an activity of ours with this id is stored.
func (f *Federation) activitySent(ctx context.Context, id string) (bool, error) {
	var one int
	err := f.db.QueryRow(ctx, `SELECT 1 FROM activities WHERE activity_id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("federation: read activities: %w", err)
	}
	return true, nil
}

// referralOpenTx reads, in tx, whether a referral is still offered. On
// PostgreSQL it locks the row, so that a withdrawal committing meanwhile
// either comes first (and this sends nothing) or waits for this and finds
// the Offer stored (and sends its Undo). SQLite has one writer: the
// transactions are serial anyway.
func referralOpenTx(ctx context.Context, tx *sql.Tx, dialect db.Dialect, referralID int64) (bool, error) {
	q := `SELECT state FROM referrals WHERE id = $1`
	if dialect == db.Postgres {
		q += ` FOR UPDATE`
	}
	var state string
	err := tx.QueryRowContext(ctx, q, referralID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("federation: read referral %d: %w", referralID, err)
	}
	return referrals.OfferState(state) == referrals.OfferOffered, nil
}

type referralSendWorker struct {
	river.WorkerDefaults[referralSendArgs]
	f *Federation
}

// Work implements river.Worker.
func (w *referralSendWorker) Work(ctx context.Context, job *river.Job[referralSendArgs]) error {
	err := w.work(ctx, job)
	if cause, ok := givenUp(ctx, err, job.JobRow); ok {
		a := job.Args
		w.f.deliveryGivenUp(ctx, deliverArgs{Activity: a.Activity, Coop: a.Coop, Host: hostOf(a.Actor)}, cause)
	}
	return err
}

func (w *referralSendWorker) work(ctx context.Context, job *river.Job[referralSendArgs]) error {
	a := job.Args
	actor, err := w.f.actor(ctx, a.Actor)
	if err != nil {
		if errors.Is(err, ErrGone) || errors.Is(err, ErrNotActor) || errors.Is(err, ErrHostRefused) || errors.Is(err, ErrPrivateAddress) {
			w.f.log.WarnContext(ctx, "referral activity not sent", "peer", a.Actor, "activity", a.Activity, "error", err)
			return river.JobCancel(err)
		}
		return err
	}
	return w.f.db.Tx(ctx, func(tx *sql.Tx) error {
		return w.f.deliverTo(ctx, tx, a.Coop, a.Activity, []string{actor.Inbox})
	})
}
