package mail_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/mail"
	"github.com/coopnet/coopnet/internal/mail/mailtest"
	"github.com/coopnet/coopnet/internal/testdb"
)

// TestQueuedMail runs mail through the node's real River queue, as the node
// wires it: the worker registered through federation.Config.Workers, jobs
// inserted with Federation.InsertJobTx in the caller's transaction.
func TestQueuedMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		srv := mailtest.Start(t)
		quiet := slog.New(slog.DiscardHandler)
		sender, err := mail.New(mail.Config{URL: srv.URL(), From: "coopnet@alpha.example", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		fed, err := federation.New(federation.Config{
			DB: d, Directory: directory.NewStore(d, 0), Logger: quiet,
			BaseURL: &url.URL{Scheme: "http", Host: "alpha.example"},
			Workers: []func(*river.Workers) error{sender.Register},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := fed.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := fed.Stop(sctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})

		// Committed: one message per recipient.
		msg := mail.Message{To: []string{"ana@beta.example", "bo@beta.example"}, Subject: "New work request", Text: "See the node."}
		if err := d.Tx(ctx, func(tx *sql.Tx) error { return sender.Enqueue(ctx, fed, tx, msg) }); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		var to []string
		for range 2 {
			to = append(to, srv.Next(t).To...)
		}
		slices.Sort(to)
		if !slices.Equal(to, msg.To) {
			t.Errorf("delivered to %q, want %q", to, msg.To)
		}

		// Rolled back: nothing queued. An invalid message queues nothing
		// either, and says why.
		rollback := errors.New("rollback")
		err = d.Tx(ctx, func(tx *sql.Tx) error {
			if err := sender.Enqueue(ctx, fed, tx, msg); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("tx: %v", err)
		}
		bad := mail.Message{To: []string{"ana@beta.example"}, Subject: "x\r\nBcc: eve@evil.example"}
		err = d.Tx(ctx, func(tx *sql.Tx) error { return sender.Enqueue(ctx, fed, tx, bad) })
		if !errors.Is(err, mail.ErrInvalidMessage) {
			t.Fatalf("enqueue an invalid message: %v", err)
		}
		if n := mailJobs(t, d); n != 2 {
			t.Errorf("%d mail jobs, want the 2 committed", n)
		}

		// A temporary refusal is retried with River's backoff (1 s first).
		srv.Refuse(451, 1)
		one := mail.Message{To: []string{"cy@beta.example"}, Subject: "Referral accepted", Text: "Good news."}
		if err := d.Tx(ctx, func(tx *sql.Tx) error { return sender.Enqueue(ctx, fed, tx, one) }); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
		if got := srv.Next(t); !slices.Equal(got.To, one.To) {
			t.Errorf("retry delivered to %q", got.To)
		}
		var attempt int
		if err := d.QueryRow(ctx, `SELECT attempt FROM river_job WHERE kind = 'mail' ORDER BY id DESC LIMIT 1`).Scan(&attempt); err != nil {
			t.Fatal(err)
		}
		if attempt != 2 {
			t.Errorf("delivered at attempt %d, want 2", attempt)
		}
	})
}

func mailJobs(t *testing.T, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'mail'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
