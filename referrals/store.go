package referrals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// Config holds the store's choices; zero values mean the defaults.
type Config struct {
	// HopLimit is how many times a request from a client here may be
	// referred on (DefaultHopLimit; at most MaxHopLimit).
	HopLimit int
	// OfferTTL is how long after a request is made its referrals stay valid
	// (DefaultOfferTTL).
	OfferTTL time.Duration
}

// Store keeps requests, referrals and their trails in the database.
type Store struct {
	db    *db.DB
	keys  *Keys
	cfg   Config
	hooks []ChangeHook
}

// ChangeHook is told of every Change inside the transaction that makes it,
// so that what it records (an activity and its delivery, a mail job) commits
// with the change or not at all. An error rolls the change back and is
// returned, wrapped, by the move.
type ChangeHook func(ctx context.Context, tx *sql.Tx, ch Change) error

// OnChange adds a hook; hooks run in the order they were added. Add them
// while the node is wired, before it serves: they are not safe to add
// concurrently with moves.
func (s *Store) OnChange(fn ChangeHook) { s.hooks = append(s.hooks, fn) }

// notify runs the hooks on a change inside its transaction.
func (s *Store) notify(ctx context.Context, tx *sql.Tx, ch Change) error {
	for _, h := range s.hooks {
		if err := h(ctx, tx, ch); err != nil {
			return fmt.Errorf("referrals: change hook: %w", err)
		}
	}
	return nil
}

// NewStore returns a store over d, encrypting contact details with keys.
func NewStore(d *db.DB, keys *Keys, cfg Config) *Store {
	if cfg.HopLimit <= 0 {
		cfg.HopLimit = DefaultHopLimit
	}
	cfg.HopLimit = min(cfg.HopLimit, MaxHopLimit)
	if cfg.OfferTTL <= 0 {
		cfg.OfferTTL = DefaultOfferTTL
	}
	return &Store{db: d, keys: keys, cfg: cfg}
}

// Keys returns the key store the store encrypts with.
func (s *Store) Keys() *Keys { return s.keys }

// list is a []string kept in one TEXT column as a JSON array.
type list = db.List

// newToken makes a status page secret and the hash the database keeps.
func newToken() (secret, hash string) {
	var b [32]byte
	rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashToken(secret)
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newPublicID makes the id a request is known by across the network.
func newPublicID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const requestColumns = `id, coop_id, public_id, origin_actor, hop, hop_limit, chain, from_actor, from_name, offer_id,
	organization, description, categories, skills, budget_min, budget_max, currency, deadline, country, region,
	language, consent_to_share, state, outcome, taker_actor, taker_name, created_at, updated_at, expires_at,
	closed_at, purged_at, version`

type scanner interface{ Scan(dest ...any) error }

func scanRequest(row scanner) (Request, error) {
	var r Request
	var chain, cats, skills list
	var bmin, bmax sql.NullInt64
	var closed, purged sql.NullTime
	err := row.Scan(&r.ID, &r.CoopID, &r.PublicID, &r.OriginActor, &r.Hop, &r.HopLimit, &chain, &r.FromActor,
		&r.FromName, &r.OfferID, &r.Organization, &r.Description, &cats, &skills, &bmin, &bmax, &r.Currency,
		&r.Deadline, &r.Country, &r.Region, &r.Language, &r.ConsentToShare, &r.State, &r.Outcome, &r.TakerActor,
		&r.TakerName, &r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt, &closed, &purged, &r.version)
	if err != nil {
		return Request{}, err
	}
	r.Chain, r.Categories, r.Skills = chain, cats, skills
	if bmin.Valid {
		r.BudgetMin = &bmin.Int64
	}
	if bmax.Valid {
		r.BudgetMax = &bmax.Int64
	}
	r.ClosedAt, r.PurgedAt = timePtr(closed), timePtr(purged)
	return r, nil
}

const referralColumns = `id, request_id, coop_id, peer_actor, peer_name, direction, state, reason,
	COALESCE(offer_id, ''), COALESCE(answer_id, ''), taker_actor, taker_name, created_at, updated_at, answered_at,
	undelivered_at, undelivered_reason`

func scanReferral(row scanner) (Referral, error) {
	var r Referral
	var answered, undelivered sql.NullTime
	err := row.Scan(&r.ID, &r.RequestID, &r.CoopID, &r.Peer.ActorID, &r.Peer.Name, &r.Direction, &r.State,
		&r.Reason, &r.OfferID, &r.AnswerID, &r.Taker.ActorID, &r.Taker.Name, &r.CreatedAt, &r.UpdatedAt, &answered,
		&undelivered, &r.UndeliveredReason)
	r.AnsweredAt, r.UndeliveredAt = timePtr(answered), timePtr(undelivered)
	return r, err
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// nullString stores "" as NULL, for columns unique when set.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// errStale is a change that lost a race: the request changed since it was
// read. The change is tried again on the request as it is now.
var errStale = errors.New("referrals: request changed meanwhile")

// change loads a request of a coop with its referrals, applies move to it and
// saves what changed, in one transaction; a move that lost a race is tried
// again. coopID 0 means any coop (moves driven by a peer's activity, already
// matched to the request by offer id).
func (s *Store) change(ctx context.Context, coopID, requestID int64, move func(a *aggregate) error) (Change, error) {
	for attempt := 0; ; attempt++ {
		var out Change
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			a, err := loadAggregate(ctx, tx, coopID, requestID)
			if err != nil {
				return err
			}
			if err := move(a); err != nil {
				return err
			}
			saved := a.changed || len(a.events) > 0
			if err := saveAggregate(ctx, tx, a); err != nil {
				return err
			}
			out = a.change()
			if !saved {
				return nil // a resent answer, say: nothing to tell anyone
			}
			return s.notify(ctx, tx, out)
		})
		if errors.Is(err, errStale) && attempt < 5 {
			continue
		}
		return out, err
	}
}

func loadAggregate(ctx context.Context, tx *sql.Tx, coopID, requestID int64) (*aggregate, error) {
	req, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM work_requests
		WHERE id = $1 AND (coop_id = $2 OR $2 = 0)`, requestID, coopID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: request %d", ErrNotFound, requestID)
	}
	if err != nil {
		return nil, fmt.Errorf("referrals: load request %d: %w", requestID, err)
	}
	refs, err := queryReferrals(ctx, tx, requestID)
	if err != nil {
		return nil, err
	}
	return newAggregate(req, refs, db.Now()), nil
}

func queryReferrals(ctx context.Context, tx *sql.Tx, requestID int64) ([]Referral, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+referralColumns+` FROM referrals WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("referrals: load referrals of request %d: %w", requestID, err)
	}
	defer rows.Close()
	var refs []Referral
	for rows.Next() {
		r, err := scanReferral(rows)
		if err != nil {
			return nil, fmt.Errorf("referrals: load referrals of request %d: %w", requestID, err)
		}
		refs = append(refs, r)
	}
	return refs, rows.Err()
}

// saveAggregate writes what a move changed. The request's version guards the
// write: when another transaction changed the request first, errStale.
func saveAggregate(ctx context.Context, tx *sql.Tx, a *aggregate) error {
	if !a.changed && len(a.events) == 0 {
		return nil
	}
	r := &a.req
	res, err := tx.ExecContext(ctx, `UPDATE work_requests SET state = $3, outcome = $4, taker_actor = $5,
		taker_name = $6, closed_at = $7, updated_at = $8, version = version + 1
		WHERE id = $1 AND version = $2`, r.ID, r.version, r.State, r.Outcome, r.TakerActor, r.TakerName,
		r.ClosedAt, a.now)
	if err != nil {
		return fmt.Errorf("referrals: save request %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errStale
	}
	r.version++
	r.UpdatedAt = a.now
	for i := range a.refs {
		if err := saveReferral(ctx, tx, &a.refs[i]); err != nil {
			return err
		}
	}
	return insertEvents(ctx, tx, a.events)
}

func saveReferral(ctx context.Context, tx *sql.Tx, ref *Referral) error {
	if ref.ID == 0 {
		err := tx.QueryRowContext(ctx, `INSERT INTO referrals (request_id, coop_id, peer_actor, peer_name, direction,
			state, reason, offer_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
			ref.RequestID, ref.CoopID, ref.Peer.ActorID, ref.Peer.Name, ref.Direction, ref.State, ref.Reason,
			nullString(ref.OfferID), ref.CreatedAt).Scan(&ref.ID)
		if err != nil {
			return fmt.Errorf("referrals: add referral to %s: %w", ref.Peer.ActorID, err)
		}
		ref.dirty = false
		return nil
	}
	if !ref.dirty {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE referrals SET state = $2, reason = $3, answer_id = $4, taker_actor = $5,
		taker_name = $6, updated_at = $7, answered_at = $8, undelivered_at = $9, undelivered_reason = $10
		WHERE id = $1`, ref.ID, ref.State, ref.Reason, nullString(ref.AnswerID), ref.Taker.ActorID, ref.Taker.Name,
		ref.UpdatedAt, ref.AnsweredAt, ref.UndeliveredAt, ref.UndeliveredReason)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: answer %s was already recorded for another offer", ErrReplay, ref.AnswerID)
	}
	if err != nil {
		return fmt.Errorf("referrals: save referral %d: %w", ref.ID, err)
	}
	ref.dirty = false
	return nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, events []Event) error {
	for i := range events {
		e := &events[i]
		err := tx.QueryRowContext(ctx, `INSERT INTO referral_events (request_id, created_at, kind, peer_actor, text,
			detail, client_visible) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			e.RequestID, e.At, e.Kind, e.PeerActor, e.Text, e.Detail, e.ClientVisible).Scan(&e.ID)
		if err != nil {
			return fmt.Errorf("referrals: add event to request %d: %w", e.RequestID, err)
		}
	}
	return nil
}
