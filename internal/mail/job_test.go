package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/coopnet/coopnet/internal/mail/mailtest"
)

// workJob runs the worker once on m as River would for the given attempt.
func workJob(w *worker, m Message, attempt int) error {
	job := &river.Job[Job]{
		JobRow: &rivertype.JobRow{ID: 7, Kind: Kind, Attempt: attempt, MaxAttempts: maxAttempts, AttemptedAt: ptr(time.Now())},
		Args:   Job{m},
	}
	return w.Work(context.Background(), job)
}

func ptr[T any](v T) *T { return &v }

func TestWorker(t *testing.T) {
	msg := Message{
		To:      []string{"client@private.example"},
		Subject: "Your request was referred",
		Text:    "call me on +33 6 12 34 56 78",
	}
	tests := []struct {
		name      string
		refuse    int // reply code refusing the first attempt; 0 accepts it
		attempt   int
		msg       Message
		cancelled bool // the job is final: River must not retry it
		delivered bool // a second attempt delivers it
		logged    string
	}{
		{name: "sent", msg: msg, attempt: 1, logged: "mail sent"},
		{name: "permanent 5xx is cancelled", refuse: 550, msg: msg, attempt: 1, cancelled: true, logged: "for good"},
		{name: "temporary 4xx is retried", refuse: 451, msg: msg, attempt: 1, delivered: true, logged: "will retry"},
		{name: "last attempt", refuse: 451, msg: msg, attempt: maxAttempts, logged: "given up"},
		{name: "invalid message is cancelled", msg: Message{To: []string{"x"}, Subject: "s"}, attempt: 1, cancelled: true, logged: "cannot be sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t)
			var logs bytes.Buffer
			s, err := New(Config{URL: srv.URL(), From: "coopnet@alpha.example", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			w := &worker{s: s}
			if tt.refuse != 0 {
				srv.Refuse(tt.refuse, 1)
			}
			err = workJob(w, tt.msg, tt.attempt)
			var cancel *river.JobCancelError
			if got := errors.As(err, &cancel); got != tt.cancelled {
				t.Errorf("Work: %v; cancelled %v, want %v", err, got, tt.cancelled)
			}
			if (err == nil) != (tt.refuse == 0 && !tt.cancelled) {
				t.Errorf("Work: %v", err)
			}
			if err == nil || tt.delivered {
				if tt.delivered {
					if err := workJob(w, tt.msg, tt.attempt+1); err != nil {
						t.Fatalf("second attempt: %v", err)
					}
				}
				if got := srv.Next(t); strings.Join(got.To, ",") != "client@private.example" {
					t.Errorf("delivered to %q", got.To)
				}
			}
			out := logs.String()
			if !strings.Contains(out, tt.logged) {
				t.Errorf("log lacks %q:\n%s", tt.logged, out)
			}
			// The log tells how many and what about, never to whom or what.
			for _, secret := range []string{"@private.example", "+33"} {
				if strings.Contains(out, secret) {
					t.Errorf("log holds %q:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, "recipients=1") {
				t.Errorf("log lacks the recipients' count:\n%s", out)
			}
		})
	}
}

func TestWorkerBackoff(t *testing.T) {
	w := &worker{}
	row := &rivertype.JobRow{Attempt: 1} // River calls it before it records the error
	next := w.NextRetry(&river.Job[Job]{JobRow: row})
	// River's default: attempt⁴ seconds, with some jitter.
	if d := time.Until(next); d <= 0 || d > 5*time.Second {
		t.Errorf("first retry in %v, want about a second", d)
	}
}

func TestJobArgs(t *testing.T) {
	j := Job{Message{To: []string{"a@b.example"}, Subject: "s", Text: "t"}}
	if j.Kind() != "mail" || j.InsertOpts().MaxAttempts != maxAttempts {
		t.Errorf("kind %q, max attempts %d", j.Kind(), j.InsertOpts().MaxAttempts)
	}
	b, err := json.Marshal(j)
	if err != nil || string(b) != `{"to":["a@b.example"],"subject":"s","text":"t"}` {
		t.Errorf("JSON %s (%v)", b, err)
	}
}

func TestRegister(t *testing.T) {
	off, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	on, err := New(Config{URL: "smtp://relay.example", From: "coopnet@alpha.example"})
	if err != nil {
		t.Fatal(err)
	}
	w := river.NewWorkers()
	if err := off.Register(w); err != nil {
		t.Fatal(err)
	}
	// Mail off registered nothing, so the real worker still can.
	if err := on.Register(w); err != nil {
		t.Fatal(err)
	}
	if err := on.Register(w); err == nil {
		t.Error("registered the mail worker twice")
	}
}
