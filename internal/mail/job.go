package mail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// Mail goes out through the node's River queue (see federation/queue.go):
// a job is a row inserted in the transaction that makes the change it
// tells of, so a referral's new state and its notification commit
// together, and a notification survives a restart or a relay that is down.

const (
	// Kind is the River job kind of a message.
	Kind = "mail"
	// maxAttempts spans about four hours with River's default backoff
	// (attempt⁴ seconds: 1 s, 16 s, 81 s, ... 1.8 h): long enough for a
	// relay to come back or an operator to fix a password, short enough
	// that a notification is not sent a day late.
	maxAttempts = 10
	// jobTimeout bounds one attempt; each SMTP command has sendTimeout.
	jobTimeout = 2 * time.Minute
)

// Job is the River job that sends one message. Its JSON is the Message's.
type Job struct {
	Message
}

// Kind implements river.JobArgs.
func (Job) Kind() string { return Kind }

// InsertOpts implements river.JobArgsWithInsertOpts. Mail runs on River's
// default queue, which federation serves when extra workers are registered.
func (Job) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: maxAttempts}
}

// JobInserter inserts a River job inside the caller's transaction;
// *federation.Federation is one.
type JobInserter interface {
	InsertJobTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error
}

// Enqueue checks m and queues it inside tx, as one job per recipient: a
// recipient whose address the relay refuses does not hold up the others,
// and no recipient sees the others' addresses. When mail is off it does
// nothing and returns nil, so that callers need not check Enabled; an
// invalid message is an error wrapping ErrInvalidMessage, and nothing is
// queued.
func (s *Sender) Enqueue(ctx context.Context, q JobInserter, tx *sql.Tx, m Message) error {
	if !s.Enabled() {
		return nil
	}
	if err := m.Validate(); err != nil {
		return err
	}
	for _, to := range m.To {
		one := m
		one.To = []string{to}
		if err := q.InsertJobTx(ctx, tx, Job{one}, nil); err != nil {
			return fmt.Errorf("mail: queue: %w", err)
		}
	}
	return nil
}

// Register adds the worker that sends Job to w. A Sender with mail off
// registers nothing: jobs queued while mail was on stay queued until it is
// on again.
func (s *Sender) Register(w *river.Workers) error {
	if !s.Enabled() {
		return nil
	}
	if err := river.AddWorkerSafely(w, &worker{s: s}); err != nil {
		return fmt.Errorf("mail: register worker: %w", err)
	}
	return nil
}

// worker sends queued messages.
type worker struct {
	river.WorkerDefaults[Job]
	s *Sender
}

// Work sends the job's message. A message the relay refuses for good (5xx)
// or that cannot be sent at all is cancelled; anything else is retried.
// Logs name the recipients' count and the subject, never an address or the
// body: both may hold a client's contact details.
func (w *worker) Work(ctx context.Context, job *river.Job[Job]) error {
	m := job.Args.Message
	log := w.s.log.With("job", job.ID, "recipients", len(m.To), "subject", m.Subject, "attempt", job.Attempt)
	err := w.s.Send(ctx, m)
	var refused *RefusedError
	switch {
	case err == nil:
		log.Info("mail sent")
		return nil
	case errors.Is(err, ErrInvalidMessage):
		log.Error("mail dropped: the message cannot be sent", "error", err)
		return river.JobCancel(err)
	case errors.As(err, &refused) && refused.Permanent():
		log.Warn("mail dropped: the relay refused it for good", "error", err)
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		log.Error("mail given up after the last attempt", "error", err)
		return err
	}
	log.Warn("mail not sent, will retry", "error", err)
	return err
}

// NextRetry uses River's default backoff (attempt⁴ seconds) whatever
// policy the client has: the delivery queue's own is tuned for peers that
// are down for days.
func (w *worker) NextRetry(job *river.Job[Job]) time.Time {
	return (&river.DefaultClientRetryPolicy{}).NextRetry(job.JobRow)
}

// Timeout implements river.Worker.
func (w *worker) Timeout(*river.Job[Job]) time.Duration { return jobTimeout }
