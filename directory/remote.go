package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/validate"
)

// Coops and services learned from peer nodes. They arrive from the network,
// which is hostile input: instead of refusing a whole profile for one bad
// field (a peer on another version, a Mastodon account with odd fields), each
// field is cleaned — invalid UTF-8 and control characters removed, lengths
// cut, unknown codes dropped — and what remains is stored. The only hard
// requirement is an identity: an absolute http(s) actor or object id, whose
// host becomes the coop's domain, so a peer can only ever write coops and
// services of its own host.
//
// Changes to remote coops do not go through the change hooks: the hooks
// publish the node's own coops, and a peer's coop is never republished. They
// are recorded in the directory's change feed (feed.go) like any other.

// ErrInvalidRemote is returned for a remote coop or service that cannot be
// stored at all (no usable id, or an object on another host than its coop).
var ErrInvalidRemote = errors.New("directory: invalid data from a peer")

// RemoteCoop is a coop hosted on a peer node, as learned from its actor.
// Domain is not given by the caller: it is the host of ActorID.
type RemoteCoop struct {
	Coop
	ActorID string
	URL     string
	IconURL string
}

// KnownCoop is a coop this node knows: hosted here (Domain empty) or on a
// peer (Domain is the peer's host).
type KnownCoop struct {
	Coop
	Domain    string
	ActorID   string
	URL       string
	IconURL   string
	FetchedAt time.Time
}

// Remote reports whether the coop is hosted on a peer node.
func (c KnownCoop) Remote() bool { return c.Domain != "" }

// RemoteService is a service of a coop hosted on a peer node.
type RemoteService struct {
	Service
	ObjectID string
	URL      string
}

// inTx runs fn in tx when the caller already has one (the inbox applies an
// activity and records it as seen in one transaction), else in a new one.
// Either way it wakes the Directory: in the caller's transaction before the
// commit, which the Directory's timer then catches.
func (s *Store) inTx(ctx context.Context, tx *sql.Tx, fn func(*sql.Tx) error) error {
	if tx != nil {
		err := fn(tx)
		s.wake()
		return err
	}
	return s.writeTx(ctx, fn)
}

// UpsertRemoteCoop creates or updates the coop whose actor is c.ActorID and
// returns its id. tx may be nil. A coop of the same domain that held the same
// slug under another actor id is removed first: the handle now names the new
// actor (an account deleted and made again).
func (s *Store) UpsertRemoteCoop(ctx context.Context, tx *sql.Tx, c RemoteCoop) (int64, error) {
	domain, err := remoteHost(c.ActorID)
	if err != nil {
		return 0, err
	}
	cleanRemoteCoop(&c, domain)
	now := db.Now()
	var id int64
	err = s.inTx(ctx, tx, func(tx *sql.Tx) error {
		var old int64
		err := TxQueryRow(ctx, tx, `DELETE FROM coops WHERE domain = $1 AND slug = $2 AND actor_id <> $3 RETURNING id`,
			domain, c.Slug, c.ActorID).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("directory: replace remote coop: %w", err)
		}
		if err == nil {
			if err := recordChange(ctx, tx, old); err != nil {
				return err
			}
		}
		err = TxQueryRow(ctx, tx, `INSERT INTO coops (domain, slug, actor_id, url, icon_url, fetched_at,
			name, summary, website, city, region, country, regions_served, remote_friendly, languages,
			year_founded, legal_form, worker_owners, workers, networks, contact_email, capacity, skills,
			approve_followers, discoverable, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
			$21, $22, $23, $24, $25, $6, $6)
			ON CONFLICT (actor_id) DO UPDATE SET slug = excluded.slug, url = excluded.url,
			icon_url = excluded.icon_url, fetched_at = excluded.fetched_at, name = excluded.name,
			summary = excluded.summary, website = excluded.website, city = excluded.city,
			region = excluded.region, country = excluded.country, regions_served = excluded.regions_served,
			remote_friendly = excluded.remote_friendly, languages = excluded.languages,
			year_founded = excluded.year_founded, legal_form = excluded.legal_form,
			worker_owners = excluded.worker_owners, workers = excluded.workers, networks = excluded.networks,
			contact_email = excluded.contact_email, capacity = excluded.capacity, skills = excluded.skills,
			approve_followers = excluded.approve_followers, discoverable = excluded.discoverable,
			updated_at = excluded.updated_at, unreachable_since = NULL
			WHERE coops.domain = excluded.domain
			RETURNING id`,
			domain, c.Slug, c.ActorID, c.URL, c.IconURL, now,
			c.Name, c.Summary, c.Website, c.City, c.Region, c.Country, list(c.RegionsServed), c.RemoteFriendly,
			list(c.Languages), c.YearFounded, c.LegalForm, c.WorkerOwners, c.Workers, list(c.Networks),
			c.ContactEmail, string(c.Capacity), list(c.Skills), c.ApproveFollowers, c.Discoverable,
		).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			// Only possible if a row with this actor id had another domain,
			// which the domain being derived from the id rules out.
			return fmt.Errorf("%w: actor %s belongs to another domain", ErrInvalidRemote, c.ActorID)
		}
		if err != nil {
			return fmt.Errorf("directory: save remote coop: %w", err)
		}
		return recordChange(ctx, tx, id)
	})
	return id, err
}

// RemoteCoopByActor returns the remote coop with that actor id, or ErrNotFound.
func (s *Store) RemoteCoopByActor(ctx context.Context, actorID string) (KnownCoop, error) {
	return s.remoteCoop(ctx, `c.actor_id = $1`, actorID)
}

// remoteCoop returns the one remote coop that where (with arg as $1)
// selects, or ErrNotFound.
func (s *Store) remoteCoop(ctx context.Context, where string, arg any) (KnownCoop, error) {
	rows, err := s.db.Query(ctx, `SELECT `+knownCoopColumns+` FROM coops c WHERE `+where+` AND c.domain <> ''`, arg)
	if err != nil {
		return KnownCoop{}, fmt.Errorf("directory: read remote coop: %w", err)
	}
	out, err := scanKnownCoops(rows)
	if err != nil {
		return KnownCoop{}, err
	}
	if len(out) == 0 {
		return KnownCoop{}, ErrNotFound
	}
	return out[0], nil
}

// RemoteCoopIDTx returns the id of the remote coop with that actor id inside
// tx, or ErrNotFound.
func (s *Store) RemoteCoopIDTx(ctx context.Context, tx *sql.Tx, actorID string) (int64, error) {
	var id int64
	err := TxQueryRow(ctx, tx, `SELECT id FROM coops WHERE actor_id = $1 AND domain <> ''`, actorID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("directory: read remote coop: %w", err)
	}
	return id, nil
}

// ListKnownCoops returns every coop the node knows, its own and its peers',
// by name. Callers showing a directory leave out those not Discoverable.
func (s *Store) ListKnownCoops(ctx context.Context) ([]KnownCoop, error) {
	rows, err := s.db.Query(ctx, `SELECT `+knownCoopColumns+` FROM coops c ORDER BY c.name, c.id`)
	if err != nil {
		return nil, fmt.Errorf("directory: list known coops: %w", err)
	}
	return scanKnownCoops(rows)
}

// DeleteRemoteCoop removes the remote coop with that actor id and its
// services. It reports whether there was one. tx may be nil.
func (s *Store) DeleteRemoteCoop(ctx context.Context, tx *sql.Tx, actorID string) (bool, error) {
	deleted := false
	err := s.inTx(ctx, tx, func(tx *sql.Tx) error {
		var id int64
		err := TxQueryRow(ctx, tx, `DELETE FROM coops WHERE actor_id = $1 AND domain <> '' RETURNING id`, actorID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("directory: delete remote coop: %w", err)
		}
		deleted = true
		return recordChange(ctx, tx, id)
	})
	return deleted, err
}

// UpsertRemoteService creates or updates the service with svc.ObjectID under
// the remote coop coopID and returns its id. tx may be nil. The object must be
// on the coop's own host, and a service already stored under another coop is
// never moved: ErrInvalidRemote.
func (s *Store) UpsertRemoteService(ctx context.Context, tx *sql.Tx, coopID int64, svc RemoteService) (int64, error) {
	host, err := remoteHost(svc.ObjectID)
	if err != nil {
		return 0, err
	}
	cleanRemoteService(&svc)
	var id int64
	err = s.inTx(ctx, tx, func(tx *sql.Tx) error {
		var domain string
		err := TxQueryRow(ctx, tx, `SELECT domain FROM coops WHERE id = $1`, coopID).Scan(&domain)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("directory: read remote coop: %w", err)
		}
		if domain == "" || domain != host {
			return fmt.Errorf("%w: service %s is not on the host of its coop (%q)", ErrInvalidRemote, svc.ObjectID, domain)
		}
		now := db.Now()
		err = TxQueryRow(ctx, tx, `INSERT INTO services (coop_id, object_id, url, title, description,
			category, tags, pricing, price_min, price_max, currency, active, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
			ON CONFLICT (object_id) DO UPDATE SET url = excluded.url, title = excluded.title,
			description = excluded.description, category = excluded.category, tags = excluded.tags,
			pricing = excluded.pricing, price_min = excluded.price_min, price_max = excluded.price_max,
			currency = excluded.currency, active = excluded.active, updated_at = excluded.updated_at
			WHERE services.coop_id = excluded.coop_id
			RETURNING id`,
			coopID, svc.ObjectID, svc.URL, svc.Title, svc.Description, svc.Category, list(svc.Tags),
			svc.Pricing, svc.PriceMin, svc.PriceMax, svc.Currency, svc.Active, now).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: service %s belongs to another coop", ErrInvalidRemote, svc.ObjectID)
		}
		if err != nil {
			return fmt.Errorf("directory: save remote service: %w", err)
		}
		return recordChange(ctx, tx, coopID)
	})
	return id, err
}

// DeleteRemoteService removes the service with that object id if it belongs
// to the remote coop coopID, and reports whether it did. tx may be nil.
func (s *Store) DeleteRemoteService(ctx context.Context, tx *sql.Tx, coopID int64, objectID string) (bool, error) {
	var n int64
	err := s.inTx(ctx, tx, func(tx *sql.Tx) error {
		res, err := TxExec(ctx, tx, `DELETE FROM services WHERE object_id = $1 AND coop_id = $2
			AND coop_id IN (SELECT id FROM coops WHERE domain <> '')`, objectID, coopID)
		if err != nil {
			return fmt.Errorf("directory: delete remote service: %w", err)
		}
		if n, _ = res.RowsAffected(); n == 0 {
			return nil
		}
		return recordChange(ctx, tx, coopID)
	})
	return n > 0, err
}

// PruneRemoteServices removes the remote coop's services whose object ids
// are not in keep (after a full read of the peer's services collection), and
// returns how many it removed. tx may be nil.
func (s *Store) PruneRemoteServices(ctx context.Context, tx *sql.Tx, coopID int64, keep []string) (int, error) {
	removed := 0
	err := s.inTx(ctx, tx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT s.object_id FROM services s JOIN coops c ON c.id = s.coop_id
			WHERE s.coop_id = $1 AND c.domain <> '' AND s.object_id IS NOT NULL`, coopID)
		if err != nil {
			return fmt.Errorf("directory: prune remote services: %w", err)
		}
		var stale []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("directory: prune remote services: %w", err)
			}
			if !slices.Contains(keep, id) {
				stale = append(stale, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("directory: prune remote services: %w", err)
		}
		for _, id := range stale {
			if _, err := tx.ExecContext(ctx, `DELETE FROM services WHERE coop_id = $1 AND object_id = $2`, coopID, id); err != nil {
				return fmt.Errorf("directory: prune remote services: %w", err)
			}
		}
		removed = len(stale)
		if removed == 0 {
			return nil
		}
		return recordChange(ctx, tx, coopID)
	})
	return removed, err
}

// ListRemoteServices returns a remote coop's services, newest first.
func (s *Store) ListRemoteServices(ctx context.Context, coopID int64) ([]RemoteService, error) {
	rows, err := s.db.Query(ctx, `SELECT `+serviceColumns+`, object_id, url FROM services
		WHERE coop_id = $1 AND object_id IS NOT NULL ORDER BY created_at DESC, id DESC`, coopID)
	if err != nil {
		return nil, fmt.Errorf("directory: list remote services: %w", err)
	}
	defer rows.Close()
	out := []RemoteService{}
	for rows.Next() {
		var rs RemoteService
		var extra extraScanner
		extra.dest = []any{&rs.ObjectID, &rs.URL}
		svc, err := scanService(extra.wrap(rows))
		if err != nil {
			return nil, fmt.Errorf("directory: list remote services: %w", err)
		}
		rs.Service = svc
		out = append(out, rs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: list remote services: %w", err)
	}
	return out, nil
}

// extraScanner appends destinations to what scanCoop or scanService scans,
// so that their columns stay read by the one function that knows them.
type extraScanner struct {
	dest []any
	row  scanner
}

func (r *extraScanner) wrap(row scanner) scanner { r.row = row; return r }

func (r *extraScanner) Scan(dest ...any) error {
	return r.row.Scan(append(dest, r.dest...)...)
}

const knownCoopColumns = coopColumns + `, c.domain, COALESCE(c.actor_id, ''), c.url, c.icon_url, c.fetched_at`

func scanKnownCoops(rows *sql.Rows) ([]KnownCoop, error) {
	defer rows.Close()
	out := []KnownCoop{}
	for rows.Next() {
		var k KnownCoop
		var fetched sql.NullTime
		extra := extraScanner{dest: []any{&k.Domain, &k.ActorID, &k.URL, &k.IconURL, &fetched}}
		c, err := scanCoop(extra.wrap(rows))
		if err != nil {
			return nil, fmt.Errorf("directory: read known coops: %w", err)
		}
		k.Coop = c
		if fetched.Valid {
			k.FetchedAt = fetched.Time.UTC()
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("directory: read known coops: %w", err)
	}
	return out, nil
}

// Limits on what a peer may store here: the same as for the node's own
// coops where a form has one, and bounds that keep one peer's data small.
const (
	maxRemoteURL  = 2000
	maxRemoteSlug = 100
)

// remoteHost checks an actor or object id and returns its host (with port).
func remoteHost(id string) (string, error) {
	if len(id) > maxRemoteURL || !utf8.ValidString(id) {
		return "", fmt.Errorf("%w: id is too long or not text", ErrInvalidRemote)
	}
	u, err := url.Parse(id)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalidRemote, id)
	}
	return strings.ToLower(u.Host), nil
}

// remoteURL keeps an http(s) URL on a single line, or returns "".
func remoteURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxRemoteURL || !validate.IsCleanText(s) || strings.ContainsAny(s, "\n\r\t ") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return s
}

// CleanRemoteText makes text from a peer safe to store: valid UTF-8, no
// control characters (line breaks and tabs kept when multiline), trimmed,
// and cut to max characters.
func CleanRemoteText(s string, max int, multiline bool) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if multiline && (r == '\n' || r == '\t') {
			return r
		}
		if r == '\r' {
			return -1
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			if multiline {
				return -1
			}
			return ' '
		}
		return r
	}, s)
	if !multiline {
		s = strings.Join(strings.Fields(s), " ")
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > max {
		s = strings.TrimSpace(string([]rune(s)[:max]))
	}
	return s
}

// cleanTags keeps at most max labels of at most maxLen characters.
func cleanTags(values []string, max, maxLen int) []string {
	out := []string{}
	for _, v := range values {
		if len(out) == max {
			break
		}
		v = CleanRemoteText(v, maxLen, false)
		if v != "" {
			out = append(out, v)
		}
	}
	return validate.Dedupe(out)
}

func cleanRemoteCoop(c *RemoteCoop, domain string) {
	c.Slug = CleanRemoteText(c.Slug, maxRemoteSlug, false)
	c.Slug = strings.Map(func(r rune) rune {
		if r == '/' || r == '@' || unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, c.Slug)
	if c.Slug == "" {
		c.Slug = "coop"
	}
	c.URL = remoteURL(c.URL)
	c.IconURL = remoteURL(c.IconURL)
	c.Name = CleanRemoteText(c.Name, 100, false)
	if c.Name == "" {
		c.Name = c.Slug + "@" + domain
	}
	c.Summary = CleanRemoteText(c.Summary, 5000, true)
	c.Website = remoteURL(c.Website)
	c.City = CleanRemoteText(c.City, 100, false)
	c.Region = CleanRemoteText(c.Region, 100, false)
	var e validate.Errors
	if c.Country = validate.Country(&e, "country", CleanRemoteText(c.Country, 10, false)); len(e) > 0 {
		c.Country = ""
	}
	c.RegionsServed = cleanTags(c.RegionsServed, 30, 80)
	langs := []string{}
	for _, l := range cleanTags(c.Languages, 20, 35) {
		if tag, err := language.Parse(l); err == nil {
			langs = append(langs, tag.String())
		}
	}
	c.Languages = validate.Dedupe(langs)
	if c.YearFounded < 1800 || c.YearFounded > time.Now().Year() {
		c.YearFounded = 0
	}
	if !slices.Contains(values(LegalForms), c.LegalForm) {
		c.LegalForm = ""
	}
	c.WorkerOwners = clamp(c.WorkerOwners, 0, 1000000)
	c.Workers = clamp(c.Workers, 0, 1000000)
	c.Networks = cleanTags(c.Networks, 20, 80)
	c.ContactEmail = strings.ToLower(CleanRemoteText(c.ContactEmail, 254, false))
	if validate.Email(&e, "email", c.ContactEmail); e["email"] != "" {
		c.ContactEmail = ""
	}
	if !slices.Contains(values(Capacities), string(c.Capacity)) {
		c.Capacity = CapacityOpen
	}
	c.Skills = cleanTags(c.Skills, 50, 40)
}

func cleanRemoteService(s *RemoteService) {
	s.URL = remoteURL(s.URL)
	s.Title = CleanRemoteText(s.Title, 120, false)
	if s.Title == "" {
		s.Title = "Service"
	}
	s.Description = CleanRemoteText(s.Description, 5000, true)
	if !slices.Contains(values(Categories), s.Category) {
		s.Category = "other"
	}
	s.Tags = cleanTags(s.Tags, 20, 40)
	if !slices.Contains(values(PricingModels), s.Pricing) {
		s.Pricing = ""
	}
	var e validate.Errors
	s.Currency = validate.Currency(&e, "currency", CleanRemoteText(s.Currency, 10, false))
	for _, p := range []**int64{&s.PriceMin, &s.PriceMax} {
		if *p != nil && (**p < 0 || **p > 1_000_000_000) {
			*p = nil
		}
	}
	if len(e) > 0 || s.Currency == "" {
		s.Currency, s.PriceMin, s.PriceMax = "", nil, nil
	}
	if s.PriceMin != nil && s.PriceMax != nil && *s.PriceMin > *s.PriceMax {
		s.PriceMin, s.PriceMax = s.PriceMax, s.PriceMin
	}
}

func clamp(v, lo, hi int) int {
	return max(lo, min(v, hi))
}

// TxStatements keeps the statements prepared in one transaction, by query
// text, so that a caller applying many changes in one transaction (the
// inbox's group commit) has each query parsed once instead of once per
// change: on SQLite, parsing the larger statements costs more than running
// them. It is used by one goroutine at a time, and the statements close
// with the transaction.
type TxStatements struct {
	tx     *sql.Tx
	stmts  map[string]*sql.Stmt
	shared *PreparedStatements
	missed []string // prepared in tx only: for shared to prepare after
}

// NewTxStatements returns an empty cache of tx's statements.
func NewTxStatements(tx *sql.Tx) *TxStatements {
	return &TxStatements{tx: tx, stmts: map[string]*sql.Stmt{}}
}

// PreparedStatements are statements prepared once on a pool and run in
// its transactions (sql.Tx.StmtContext reuses a statement already prepared
// on the transaction's connection: on SQLite's single write connection,
// each query is parsed once for the life of the process).
type PreparedStatements struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// maxPreparedStatements bounds PreparedStatements (the queries are
// constants of the code: the bound is never reached in practice).
const maxPreparedStatements = 256

// NewPreparedStatements returns statements to be prepared on db.
func NewPreparedStatements(db *sql.DB) *PreparedStatements {
	return &PreparedStatements{db: db, stmts: map[string]*sql.Stmt{}}
}

// Tx returns the statements of tx, taken from p where p has them.
func (p *PreparedStatements) Tx(tx *sql.Tx) *TxStatements {
	s := NewTxStatements(tx)
	s.shared = p
	return s
}

// Learn prepares on p's pool the queries that s had to prepare in its
// transaction, for the transactions after. Call it once s's transaction
// has ended: on a pool of one connection, preparing waits for it.
func (p *PreparedStatements) Learn(ctx context.Context, s *TxStatements) {
	for _, q := range s.missed {
		p.mu.Lock()
		_, have := p.stmts[q]
		full := len(p.stmts) >= maxPreparedStatements
		p.mu.Unlock()
		if have || full {
			continue
		}
		st, err := p.db.PrepareContext(ctx, q)
		if err != nil {
			continue // run prepared per transaction instead
		}
		p.mu.Lock()
		if _, have := p.stmts[q]; have {
			st.Close()
		} else {
			p.stmts[q] = st
		}
		p.mu.Unlock()
	}
	s.missed = nil
}

type txStatementsKey struct{}

// WithTxStatements returns a context carrying s: TxExec and TxQueryRow
// given s's transaction and this context run their queries as prepared
// statements of s.
func WithTxStatements(ctx context.Context, s *TxStatements) context.Context {
	return context.WithValue(ctx, txStatementsKey{}, s)
}

func (s *TxStatements) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if s == nil || tx != s.tx {
		return nil
	}
	if st, ok := s.stmts[query]; ok {
		return st
	}
	if s.shared != nil {
		s.shared.mu.Lock()
		ps := s.shared.stmts[query]
		s.shared.mu.Unlock()
		if ps != nil {
			st := tx.StmtContext(ctx, ps)
			s.stmts[query] = st
			return st
		}
		s.missed = append(s.missed, query)
	}
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared: the same error surfaces there
	}
	s.stmts[query] = st
	return st
}

func txStatementsFrom(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	s, _ := ctx.Value(txStatementsKey{}).(*TxStatements)
	return s.stmt(ctx, tx, query)
}

// TxExec runs query in tx, prepared once per transaction when ctx carries
// tx's TxStatements.
func TxExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := txStatementsFrom(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// TxQueryRow runs query in tx like TxExec, for at most one row.
func TxQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := txStatementsFrom(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}
