package referrals

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/coopnet/coopnet/internal/db"
)

// Trail returns a request's events, oldest first; clientView keeps only those
// the client sees on the status page (without member-only details). The
// caller found the request through RequestByID (members of its coop) or
// RequestByStatusToken (the client).
func (s *Store) Trail(ctx context.Context, requestID int64, clientView bool) ([]Event, error) {
	q := `SELECT id, request_id, created_at, kind, peer_actor, text, detail, client_visible FROM referral_events
		WHERE request_id = $1`
	if clientView {
		q += ` AND client_visible = TRUE`
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("referrals: trail of request %d: %w", requestID, err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.ID, &e.RequestID, &e.At, &e.Kind, &e.PeerActor, &e.Text, &e.Detail, &e.ClientVisible); err != nil {
			return nil, fmt.Errorf("referrals: trail of request %d: %w", requestID, err)
		}
		if clientView {
			e.Detail = ""
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PeerStats counts the referrals exchanged with one peer, over a period or
// one month of it. Counts are by when the offer was made: of the offers sent
// in the period, how many were accepted, and how many of those completed.
type PeerStats struct {
	Peer     string `json:"peer"`
	PeerName string `json:"peer_name"`
	// Month is "2006-01" in Stats.Months, empty in Stats.Peers.
	Month string `json:"month,omitempty"`
	// Sent: offers this coop sent to the peer; SentAccepted: those the peer
	// accepted; SentCompleted: those whose work was marked completed.
	Sent          int `json:"sent"`
	SentAccepted  int `json:"sent_accepted"`
	SentCompleted int `json:"sent_completed"`
	// Received: offers the peer sent this coop; ReceivedAccepted: those this
	// coop accepted; ReceivedCompleted: those it marked completed.
	Received          int `json:"received"`
	ReceivedAccepted  int `json:"received_accepted"`
	ReceivedCompleted int `json:"received_completed"`
}

// Stats are a coop's referral numbers with each peer over [From, To).
type Stats struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Peers holds one total per peer, by peer; Months one row per peer and
	// month with referrals, by month then peer.
	Peers  []PeerStats `json:"peers"`
	Months []PeerStats `json:"months"`
}

// Stats counts a coop's referrals with each peer made in [from, to), in
// total and by calendar month (UTC). The months are grouped here rather than
// in SQL, where the two dialects spell date functions differently; a coop's
// referrals over a period are few enough to read.
func (s *Store) Stats(ctx context.Context, coopID int64, from, to time.Time) (Stats, error) {
	rows, err := s.db.Query(ctx, `SELECT f.peer_actor, f.peer_name, f.direction, f.state, r.outcome, f.created_at
		FROM referrals f JOIN work_requests r ON r.id = f.request_id
		WHERE f.coop_id = $1 AND f.created_at >= $2 AND f.created_at < $3 ORDER BY f.id`,
		coopID, from.UTC(), to.UTC())
	if err != nil {
		return Stats{}, fmt.Errorf("referrals: stats of coop %d: %w", coopID, err)
	}
	defer rows.Close()
	totals := map[string]*PeerStats{}
	months := map[[2]string]*PeerStats{}
	for rows.Next() {
		var peer, name string
		var dir Direction
		var state OfferState
		var outcome Outcome
		var at time.Time
		if err := rows.Scan(&peer, &name, &dir, &state, &outcome, &at); err != nil {
			return Stats{}, fmt.Errorf("referrals: stats of coop %d: %w", coopID, err)
		}
		month := at.UTC().Format("2006-01")
		for _, ps := range []*PeerStats{
			statsRow(totals, peer, peer, name, ""),
			statsRow(months, [2]string{month, peer}, peer, name, month),
		} {
			ps.count(dir, state, outcome)
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("referrals: stats of coop %d: %w", coopID, err)
	}
	st := Stats{From: from.UTC(), To: to.UTC(), Peers: []PeerStats{}, Months: []PeerStats{}}
	for _, ps := range totals {
		st.Peers = append(st.Peers, *ps)
	}
	for _, ps := range months {
		st.Months = append(st.Months, *ps)
	}
	sort.Slice(st.Peers, func(i, j int) bool { return st.Peers[i].Peer < st.Peers[j].Peer })
	sort.Slice(st.Months, func(i, j int) bool {
		a, b := st.Months[i], st.Months[j]
		return a.Month < b.Month || (a.Month == b.Month && a.Peer < b.Peer)
	})
	return st, nil
}

func statsRow[K comparable](m map[K]*PeerStats, key K, peer, name, month string) *PeerStats {
	ps, ok := m[key]
	if !ok {
		ps = &PeerStats{Peer: peer, Month: month}
		m[key] = ps
	}
	if name != "" {
		ps.PeerName = name
	}
	return ps
}

func (ps *PeerStats) count(dir Direction, state OfferState, outcome Outcome) {
	accepted := state == OfferAccepted
	completed := accepted && outcome == OutcomeCompleted
	if dir == Sent {
		ps.Sent++
		ps.SentAccepted += b2i(accepted)
		ps.SentCompleted += b2i(completed)
	} else {
		ps.Received++
		ps.ReceivedAccepted += b2i(accepted)
		ps.ReceivedCompleted += b2i(completed)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PurgeContacts deletes the contact details of requests closed more than
// olderThan ago, and anonymises what is left: the free text a client wrote
// (organization, description, region) and the envelope a received request
// came in are cleared, while states, dates, categories, budget, country,
// language, the trail and the referrals stay for statistics. It returns how
// many requests it purged.
func (s *Store) PurgeContacts(ctx context.Context, olderThan time.Duration) (int, error) {
	now := db.Now()
	cutoff := now.Add(-olderThan)
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM work_request_contacts WHERE request_id IN
			(SELECT id FROM work_requests WHERE closed_at IS NOT NULL AND closed_at < $1)`, cutoff); err != nil {
			return fmt.Errorf("referrals: purge contacts: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE work_requests SET organization = '', description = '', region = '',
			envelope_payload = '', envelope_forwards = '[]', purged_at = $2, updated_at = $2, version = version + 1
			WHERE closed_at IS NOT NULL AND closed_at < $1 AND purged_at IS NULL`, cutoff, now)
		if err != nil {
			return fmt.Errorf("referrals: purge requests: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
