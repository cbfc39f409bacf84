package directory

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/coopnet/coopnet/internal/db"
)

// BulkLoadRemote stores many peers' coops and their services at once, in one
// transaction of multi-row inserts: for tools and benchmarks that fill a
// directory (cmd/coopbench), where one upsert per row would take minutes.
// services[i] are the services of coops[i] (services may be shorter than
// coops). Each coop and service is cleaned as UpsertRemoteCoop and
// UpsertRemoteService clean them, and must have a usable id on its coop's
// host (ErrInvalidRemote). The coops must be new: one whose actor id, or
// handle, is already stored fails the load with ErrConflict. Every coop is
// recorded in the change feed. On any error nothing is stored.
func (s *Store) BulkLoadRemote(ctx context.Context, coops []RemoteCoop, services [][]RemoteService) error {
	if len(services) > len(coops) {
		return fmt.Errorf("%w: services for %d coops, but %d coops", ErrInvalidRemote, len(services), len(coops))
	}
	coops = append([]RemoteCoop(nil), coops...)
	domains := make([]string, len(coops))
	for i := range coops {
		domain, err := remoteHost(coops[i].ActorID)
		if err != nil {
			return err
		}
		cleanRemoteCoop(&coops[i], domain)
		domains[i] = domain
	}
	cleaned := make([][]RemoteService, len(services))
	for i, svcs := range services {
		cleaned[i] = append([]RemoteService(nil), svcs...)
		for j := range cleaned[i] {
			svc := &cleaned[i][j]
			host, err := remoteHost(svc.ObjectID)
			if err != nil {
				return err
			}
			if host != domains[i] {
				return fmt.Errorf("%w: service %s is not on the host of its coop (%q)", ErrInvalidRemote, svc.ObjectID, domains[i])
			}
			cleanRemoteService(svc)
		}
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		// Every full chunk is the same statement: parsed once.
		ctx := WithTxStatements(ctx, NewTxStatements(tx))
		params := bulkParams(s.db.Dialect())
		ids, err := bulkInsertCoops(ctx, tx, params/24, coops, domains)
		if err != nil {
			return err
		}
		if err := bulkRecordChanges(ctx, tx, params, ids); err != nil {
			return err
		}
		return bulkInsertServices(ctx, tx, params/12, ids, cleaned)
	})
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("%w: a coop or service loaded is already stored: %v", ErrConflict, err)
	}
	return err
}

// bulkParams is how many parameters one multi-row insert binds. SQLite looks
// each numbered parameter up in a list, so a statement's binding costs the
// square of its parameters: 400 rows of 24 took 70 s for 10,000 coops, 20
// rows 1.5 s. PostgreSQL takes up to 65,535, and each statement is a round
// trip.
func bulkParams(d db.Dialect) int {
	if d == db.SQLite {
		return 300
	}
	return 10000
}

// valueRows returns rows of n placeholders each, numbered from $(first), for
// a multi-row insert; extra is appended to every row as is (a shared $1).
func valueRows(rows, n, first int, extra string) string {
	var b strings.Builder
	p := first
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range n {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p))
			p++
		}
		b.WriteString(extra)
		b.WriteByte(')')
	}
	return b.String()
}

// bulkInsertCoops inserts coops, perInsert at a time, and returns their
// ids, in order.
func bulkInsertCoops(ctx context.Context, tx *sql.Tx, perInsert int, coops []RemoteCoop, domains []string) ([]int64, error) {
	now := db.Now()
	ids := make([]int64, 0, len(coops))
	for start := 0; start < len(coops); start += perInsert {
		chunk := coops[start:min(start+perInsert, len(coops))]
		args := []any{now}
		for i, c := range chunk {
			args = append(args, domains[start+i], c.Slug, c.ActorID, c.URL, c.IconURL,
				c.Name, c.Summary, c.Website, c.City, c.Region, c.Country, list(c.RegionsServed), c.RemoteFriendly,
				list(c.Languages), c.YearFounded, c.LegalForm, c.WorkerOwners, c.Workers, list(c.Networks),
				c.ContactEmail, string(c.Capacity), list(c.Skills), c.ApproveFollowers, c.Discoverable)
		}
		rows, err := txQuery(ctx, tx, `INSERT INTO coops (domain, slug, actor_id, url, icon_url,
			name, summary, website, city, region, country, regions_served, remote_friendly, languages,
			year_founded, legal_form, worker_owners, workers, networks, contact_email, capacity, skills,
			approve_followers, discoverable, fetched_at, created_at, updated_at)
			VALUES `+valueRows(len(chunk), 24, 2, ", $1, $1, $1")+` RETURNING id, actor_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("directory: bulk load coops: %w", err)
		}
		// RETURNING's order is not promised: match the rows by actor id.
		byActor := make(map[string]int64, len(chunk))
		for rows.Next() {
			var id int64
			var actor string
			if err := rows.Scan(&id, &actor); err != nil {
				rows.Close()
				return nil, fmt.Errorf("directory: bulk load coops: %w", err)
			}
			byActor[actor] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("directory: bulk load coops: %w", err)
		}
		for _, c := range chunk {
			ids = append(ids, byActor[c.ActorID])
		}
	}
	return ids, nil
}

func bulkRecordChanges(ctx context.Context, tx *sql.Tx, perInsert int, ids []int64) error {
	now := db.Now()
	for start := 0; start < len(ids); start += perInsert {
		chunk := ids[start:min(start+perInsert, len(ids))]
		args := append([]any{now}, int64Args(chunk)...)
		if _, err := TxExec(ctx, tx, `INSERT INTO directory_changes (coop_id, changed_at) VALUES `+
			valueRows(len(chunk), 1, 2, ", $1"), args...); err != nil {
			return fmt.Errorf("directory: bulk load: record changes: %w", err)
		}
	}
	return nil
}

// bulkInsertServices inserts services[i] under the coop ids[i], perInsert
// at a time.
func bulkInsertServices(ctx context.Context, tx *sql.Tx, perInsert int, ids []int64, services [][]RemoteService) error {
	now := db.Now()
	args := []any{now}
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		_, err := TxExec(ctx, tx, `INSERT INTO services (coop_id, object_id, url, title, description,
			category, tags, pricing, price_min, price_max, currency, active, created_at, updated_at)
			VALUES `+valueRows(rows, 12, 2, ", $1, $1"), args...)
		if err != nil {
			return fmt.Errorf("directory: bulk load services: %w", err)
		}
		args, rows = args[:1], 0
		return nil
	}
	for i, svcs := range services {
		for _, svc := range svcs {
			args = append(args, ids[i], svc.ObjectID, svc.URL, svc.Title, svc.Description, svc.Category,
				list(svc.Tags), svc.Pricing, svc.PriceMin, svc.PriceMax, svc.Currency, svc.Active)
			if rows++; rows == perInsert {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// txQuery runs query in tx like TxExec, for any number of rows.
func txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := txStatementsFrom(ctx, tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}
