package referrals

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// CreateRequest records a client's request to coop at, and returns it with
// the secret of the client's status link (shown once; only its hash is kept).
// Bad input is a *validate.Error and stores nothing.
func (s *Store) CreateRequest(ctx context.Context, at Local, in Intake) (Request, string, error) {
	now := db.Now()
	if err := in.Normalize(now); err != nil {
		return Request{}, "", err
	}
	if at.ActorID == "" {
		return Request{}, "", fmt.Errorf("referrals: create request: coop %d has no actor id", at.CoopID)
	}
	// Encrypt before the transaction: making the coop's keys the first time
	// writes, and SQLite has one writer.
	jwe, err := s.sealAtRest(ctx, at.CoopID, in.Contact)
	if err != nil {
		return Request{}, "", err
	}
	secret, hash := newToken()
	r := Request{CoopID: at.CoopID, PublicID: newPublicID(), Details: in.Details, OriginActor: at.ActorID,
		HopLimit: s.cfg.HopLimit, Chain: []string{at.ActorID}, State: StateNew, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(s.cfg.OfferTTL)}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := insertRequest(ctx, tx, &r, hash, "", "[]"); err != nil {
			return err
		}
		if err := insertContact(ctx, tx, r.ID, jwe, now); err != nil {
			return err
		}
		events := []Event{{RequestID: r.ID, At: now, Kind: EventCreated, Text: "Request received", ClientVisible: true}}
		if err := insertEvents(ctx, tx, events); err != nil {
			return err
		}
		// A new request, for mail to announce: the client's first e-mail
		// carries the status link, so the hook gets its secret.
		return s.notify(ctx, tx, Change{Request: r, Events: events, StatusToken: secret})
	})
	if err != nil {
		return Request{}, "", err
	}
	return r, secret, nil
}

// sealAtRest encrypts contact details to the coop's own encryption key.
func (s *Store) sealAtRest(ctx context.Context, coopID int64, c Contact) (string, error) {
	keys, err := s.keys.For(ctx, coopID)
	if err != nil {
		return "", err
	}
	pub := keys.Encryption.Public()
	salt := make([]byte, 16)
	rand.Read(salt)
	return encryptContact(&pub, c, salt)
}

func insertRequest(ctx context.Context, tx *sql.Tx, r *Request, tokenHash, payload, forwards string) error {
	err := tx.QueryRowContext(ctx, `INSERT INTO work_requests (coop_id, public_id, origin_actor, hop, hop_limit,
		chain, from_actor, from_name, offer_id, organization, description, categories, skills, budget_min,
		budget_max, currency, deadline, country, region, language, consent_to_share, state, status_token_hash,
		envelope_payload, envelope_forwards, created_at, updated_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
		$22, $23, $24, $25, $26, $26, $27) RETURNING id`,
		r.CoopID, r.PublicID, r.OriginActor, r.Hop, r.HopLimit, list(r.Chain), r.FromActor, r.FromName, r.OfferID,
		r.Organization, r.Description, list(r.Categories), list(r.Skills), r.BudgetMin, r.BudgetMax, r.Currency,
		r.Deadline, r.Country, r.Region, r.Language, r.ConsentToShare, r.State, nullString(tokenHash),
		payload, forwards, r.CreatedAt, r.ExpiresAt).Scan(&r.ID)
	if db.IsForeignKeyViolation(err) {
		return fmt.Errorf("%w: coop %d", ErrNotFound, r.CoopID)
	}
	if err != nil {
		return fmt.Errorf("referrals: add request %s: %w", r.PublicID, err)
	}
	r.Chain, r.Categories, r.Skills = nonNil(r.Chain), nonNil(r.Categories), nonNil(r.Skills)
	return nil
}

func insertContact(ctx context.Context, tx *sql.Tx, requestID int64, jwe string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO work_request_contacts (request_id, jwe, created_at) VALUES ($1, $2, $3)`,
		requestID, jwe, now)
	if err != nil {
		return fmt.Errorf("referrals: add contact of request %d: %w", requestID, err)
	}
	return nil
}

// RequestByID returns a request held by a coop, or ErrNotFound.
func (s *Store) RequestByID(ctx context.Context, coopID, id int64) (Request, error) {
	return s.request(ctx, `id = $1 AND coop_id = $2`, id, coopID)
}

// RequestByStatusToken returns the request a client's status link opens, or
// ErrNotFound.
func (s *Store) RequestByStatusToken(ctx context.Context, token string) (Request, error) {
	if token == "" {
		return Request{}, ErrNotFound
	}
	return s.request(ctx, `status_token_hash = $1`, hashToken(token))
}

func (s *Store) request(ctx context.Context, where string, args ...any) (Request, error) {
	r, err := scanRequest(s.db.QueryRow(ctx, `SELECT `+requestColumns+` FROM work_requests WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, fmt.Errorf("referrals: read request: %w", err)
	}
	return r, nil
}

// Source tells where the requests a list shows came from.
type Source string

// The sources of requests.
const (
	FromAnywhere Source = ""
	FromClients  Source = "clients"
	FromPeers    Source = "peers"
)

// Filter narrows a list of requests. The zero value lists the latest 50.
type Filter struct {
	States []State
	Source Source
	// Limit is at most 500 (default 50); BeforeID pages back from an id.
	Limit    int
	BeforeID int64
}

// UndeliveredOffers counts, per request of the coop, its referrals still
// offered whose Offer could not be delivered (Referral.UndeliveredAt): the
// requests its members should look at again. Requests without any are left
// out.
func (s *Store) UndeliveredOffers(ctx context.Context, coopID int64) (map[int64]int, error) {
	rows, err := s.db.Query(ctx, `SELECT request_id, COUNT(*) FROM referrals WHERE coop_id = $1 AND direction = $2
		AND state = $3 AND undelivered_at IS NOT NULL GROUP BY request_id`, coopID, Sent, OfferOffered)
	if err != nil {
		return nil, fmt.Errorf("referrals: count undelivered offers: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("referrals: count undelivered offers: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// ListRequests returns a coop's requests, newest first.
func (s *Store) ListRequests(ctx context.Context, coopID int64, f Filter) ([]Request, error) {
	where := []string{`coop_id = $1`}
	args := []any{coopID}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.States) > 0 {
		var ps []string
		for _, st := range f.States {
			ps = append(ps, arg(string(st)))
		}
		where = append(where, `state IN (`+strings.Join(ps, ", ")+`)`)
	}
	switch f.Source {
	case FromClients:
		where = append(where, `hop = 0`)
	case FromPeers:
		where = append(where, `hop > 0`)
	}
	if f.BeforeID > 0 {
		where = append(where, `id < `+arg(f.BeforeID))
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	rows, err := s.db.Query(ctx, `SELECT `+requestColumns+` FROM work_requests WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT `+arg(f.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("referrals: list requests: %w", err)
	}
	defer rows.Close()
	out := []Request{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("referrals: list requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ContactFor decrypts the contact details of a request held by a coop, for
// its members' eyes; ErrContactPurged once they were deleted.
func (s *Store) ContactFor(ctx context.Context, coopID, requestID int64) (Contact, error) {
	jwe, err := s.contactJWE(ctx, coopID, requestID)
	if err != nil {
		return Contact{}, err
	}
	c, _, err := s.keys.decryptContact(ctx, coopID, jwe)
	if err != nil {
		return Contact{}, fmt.Errorf("referrals: contact of request %d: %w", requestID, err)
	}
	return c, nil
}

func (s *Store) contactJWE(ctx context.Context, coopID, requestID int64) (string, error) {
	var jwe sql.NullString
	err := s.db.QueryRow(ctx, `SELECT c.jwe FROM work_requests r LEFT JOIN work_request_contacts c ON c.request_id = r.id
		WHERE r.id = $1 AND r.coop_id = $2`, requestID, coopID).Scan(&jwe)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: request %d", ErrNotFound, requestID)
	}
	if err != nil {
		return "", fmt.Errorf("referrals: contact of request %d: %w", requestID, err)
	}
	if !jwe.Valid {
		return "", fmt.Errorf("%w: request %d", ErrContactPurged, requestID)
	}
	return jwe.String, nil
}

// Referrals returns the referrals of a request held by a coop, oldest first.
func (s *Store) Referrals(ctx context.Context, coopID, requestID int64) ([]Referral, error) {
	rows, err := s.db.Query(ctx, `SELECT `+referralColumns+` FROM referrals WHERE request_id = $1 AND coop_id = $2
		ORDER BY id`, requestID, coopID)
	if err != nil {
		return nil, fmt.Errorf("referrals: list referrals of request %d: %w", requestID, err)
	}
	defer rows.Close()
	out := []Referral{}
	for rows.Next() {
		r, err := scanReferral(rows)
		if err != nil {
			return nil, fmt.Errorf("referrals: list referrals of request %d: %w", requestID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReferralByOfferID returns the referral of an Offer, sent or received by a
// coop here, or ErrNotFound.
func (s *Store) ReferralByOfferID(ctx context.Context, dir Direction, offerID string) (Referral, error) {
	r, err := scanReferral(s.db.QueryRow(ctx, `SELECT `+referralColumns+` FROM referrals
		WHERE direction = $1 AND offer_id = $2`, dir, offerID))
	if errors.Is(err, sql.ErrNoRows) {
		return Referral{}, fmt.Errorf("%w: %s offer %s", ErrNotFound, dir, offerID)
	}
	if err != nil {
		return Referral{}, fmt.Errorf("referrals: read offer %s: %w", offerID, err)
	}
	return r, nil
}

// SetOfferID records the id of the Offer activity federation made for a sent
// referral. Setting the same id again does nothing; another id is ErrConflict.
func (s *Store) SetOfferID(ctx context.Context, referralID int64, offerID string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.SetOfferIDTx(ctx, tx, referralID, offerID) })
}

// SetOfferIDTx is SetOfferID inside tx, for federation to record the id in
// the transaction that stores the Offer.
func (s *Store) SetOfferIDTx(ctx context.Context, tx *sql.Tx, referralID int64, offerID string) error {
	if offerID == "" {
		return fmt.Errorf("referrals: set offer id of referral %d: empty id", referralID)
	}
	res, err := tx.ExecContext(ctx, `UPDATE referrals SET offer_id = $2 WHERE id = $1 AND direction = 'sent'
		AND (offer_id IS NULL OR offer_id = $2)`, referralID, offerID)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: offer id %s is already used", ErrConflict, offerID)
	}
	if err != nil {
		return fmt.Errorf("referrals: set offer id of referral %d: %w", referralID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no sent referral %d without another offer id", ErrConflict, referralID)
	}
	return nil
}
