package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// What the admin view shows of deliveries: River's jobs, translated.

// DeliveryState sorts deliveries for the admin view.
type DeliveryState string

// Delivery states. Pending has not failed yet (waiting, running, or held back
// with its peer); Retrying has failed and waits for another attempt; Failed
// was given up: attempts exhausted (River's discarded) or final (refused,
// blocked, gone: River's cancelled).
const (
	DeliveryPending  DeliveryState = "pending"
	DeliveryRetrying DeliveryState = "retrying"
	DeliveryFailed   DeliveryState = "failed"
)

// DeliveryFilter selects deliveries. Zero fields select everything.
type DeliveryFilter struct {
	Host  string
	State DeliveryState // "" means pending, retrying and failed
	// Limit caps the list (default 100, at most 1,000); newest first.
	Limit int
}

// Delivery is one activity on its way to one inbox.
type Delivery struct {
	JobID       int64
	Host        string
	Inbox       string
	ActivityID  int64 // row id in the outbox
	CoopID      int64
	State       DeliveryState
	Attempt     int
	MaxAttempts int
	LastError   string
	// LastAttemptAt is zero before the first attempt.
	LastAttemptAt time.Time
	// NextAttemptAt is zero for a failed delivery.
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// ErrDeliveryNotFound is returned for a job id that is not a delivery.
var ErrDeliveryNotFound = errors.New("federation: delivery not found")

// hostPredicate selects deliveries by host in River's job list; ->> reads a
// JSON field on both databases.
const hostPredicate = "args ->> 'host' = @host"

var (
	unfinishedStates = []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateScheduled, rivertype.JobStateRetryable,
	}
	failedStates = []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}
)

// Deliveries lists deliveries that are not done, newest first.
func (f *Federation) Deliveries(ctx context.Context, filter DeliveryFilter) ([]Delivery, error) {
	limit := filter.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	p := river.NewJobListParams().Kinds(deliverKind).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	switch filter.State {
	case "":
		p = p.States(append(append([]rivertype.JobState{}, unfinishedStates...), failedStates...)...)
	case DeliveryPending:
		p = p.States(unfinishedStates...).Where("errors IS NULL")
	case DeliveryRetrying:
		p = p.States(unfinishedStates...).Where("errors IS NOT NULL")
	case DeliveryFailed:
		p = p.States(failedStates...)
	default:
		return nil, fmt.Errorf("federation: unknown delivery state %q", filter.State)
	}
	if h := strings.ToLower(strings.TrimSpace(filter.Host)); h != "" {
		p = p.Where(hostPredicate, river.NamedArgs{"host": h})
	}
	res, err := f.queue.client.JobList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("federation: list deliveries: %w", err)
	}
	out := make([]Delivery, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, deliveryFromJob(j))
	}
	return out, nil
}

func deliveryFromJob(j *rivertype.JobRow) Delivery {
	var a deliverArgs
	_ = json.Unmarshal(j.EncodedArgs, &a) // a broken row still shows, without its args
	d := Delivery{
		JobID: j.ID, Host: a.Host, Inbox: a.Inbox, ActivityID: a.Activity, CoopID: a.Coop,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt,
	}
	if j.AttemptedAt != nil {
		d.LastAttemptAt = *j.AttemptedAt
	}
	if n := len(j.Errors); n > 0 {
		d.LastError = j.Errors[n-1].Error
	}
	switch j.State {
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
		d.State = DeliveryFailed
	default:
		if j.State != rivertype.JobStateRunning {
			d.NextAttemptAt = j.ScheduledAt
		}
		d.State = DeliveryPending
		if len(j.Errors) > 0 {
			d.State = DeliveryRetrying
		}
	}
	return d
}

// RetryDelivery makes a delivery due now, whatever its state: a failed one
// gets one more attempt.
func (f *Federation) RetryDelivery(ctx context.Context, jobID int64) error {
	j, err := f.queue.client.JobGet(ctx, jobID)
	if errors.Is(err, rivertype.ErrNotFound) || (err == nil && j.Kind != deliverKind) {
		return ErrDeliveryNotFound
	}
	if err != nil {
		return fmt.Errorf("federation: read delivery %d: %w", jobID, err)
	}
	if _, err := f.queue.client.JobRetry(ctx, jobID); err != nil {
		return fmt.Errorf("federation: retry delivery %d: %w", jobID, err)
	}
	return nil
}
