package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coopnet/coopnet/federation"
)

// The inbox benchmark's activities: planned and signed before the run, then
// posted by the senders, who record what the node answered.

// inboxPost is one activity, signed before the run.
type inboxPost struct {
	actor  *fakeActor
	kind   string // "Update" or "Create" (or "accept", in the setup)
	name   string // of the profile (Update) or the service (Create)
	body   []byte
	header http.Header
}

func newInboxPost(a *fakeActor, kind string, activity map[string]any) (*inboxPost, error) {
	body, err := json.Marshal(activity)
	if err != nil {
		return nil, fmt.Errorf("encode activity: %w", err)
	}
	return &inboxPost{actor: a, kind: kind, body: body}, nil
}

// sign signs the post for inbox with its actor's key, now.
func (p *inboxPost) sign(inbox string) error {
	req, err := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(p.body))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if err := federation.SignRequest(req, p.body, p.actor.KeyID(), p.actor.Key, time.Now()); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	p.header = req.Header
	return nil
}

// send posts the signed activity and returns the status.
func (p *inboxPost) send(ctx context.Context, client *http.Client, inbox string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(p.body))
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	req.Header = p.header
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("post: read answer: %w", err)
	}
	return resp.StatusCode, nil
}

// newSenderClient is an HTTP client keeping conns connections open to the
// node.
func newSenderClient(conns int) *http.Client {
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		},
	}
}

// inboxPlan is every sender's activities, in order.
type inboxPlan struct {
	bySender [][]*inboxPost
}

// planInbox gives each sender the actors whose index it is congruent to,
// and an equal share of the activities, taken from its actors in turn;
// each actor alternates profile Updates and service Creates.
func planInbox(cfg inboxConfig, actors []*fakeActor) (*inboxPlan, error) {
	plan := &inboxPlan{bySender: make([][]*inboxPost, cfg.senders)}
	seq := map[*fakeActor]int{}
	for s := range cfg.senders {
		var own []*fakeActor
		for i := s; i < len(actors); i += cfg.senders {
			own = append(own, actors[i])
		}
		count := cfg.activities / cfg.senders
		if s < cfg.activities%cfg.senders {
			count++
		}
		for j := range count {
			a := own[j%len(own)]
			p, err := plannedPost(a, seq[a])
			if err != nil {
				return nil, err
			}
			seq[a]++
			plan.bySender[s] = append(plan.bySender[s], p)
		}
	}
	return plan, nil
}

// plannedPost is the actor's k-th activity: an Update of its profile for
// even k, a Create of a new service for odd k.
func plannedPost(a *fakeActor, k int) (*inboxPost, error) {
	kind, name, object := "Update", fmt.Sprintf("Peer Builders %s rev %d", a.Slug, k), map[string]any(nil)
	if k%2 == 0 {
		object = a.Document(name)
	} else {
		kind, name = "Create", fmt.Sprintf("Service %d of %s", k, a.Slug)
		object = a.Service(k, name)
	}
	p, err := newInboxPost(a, kind, a.Activity(fmt.Sprintf("%s-%d", strings.ToLower(kind), k), kind, object))
	if err != nil {
		return nil, err
	}
	p.name = name
	return p, nil
}

// sign signs every post, on every core.
func (plan *inboxPlan) sign(ctx context.Context, inbox string) error {
	all := slices.Concat(plan.bySender...)
	errs := make([]error, len(all))
	parallel(len(all), func(i int) {
		if errs[i] = ctx.Err(); errs[i] == nil {
			errs[i] = all[i].sign(inbox)
		}
	})
	return errors.Join(errs...)
}

// inboxResult is what the senders saw.
type inboxResult struct {
	latencies []time.Duration // of the accepted posts, sorted
	accepted  int
	refused   map[string]int // by status, or "error"
	sample    string         // one refusal, for the report
	cpu       cpuUse
	// What the accepted posts should have left in the directory.
	lastName map[string]string // actor id → name of its last Update
	created  map[string]int    // actor id → services created
}

// send runs the senders until every post is sent or maxDuration passes.
func (plan *inboxPlan) send(ctx context.Context, cfg inboxConfig, inbox string) (*inboxResult, error) {
	client := newSenderClient(cfg.senders)
	stopProfile, err := startProfile(cfg.cpuProfile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.maxDuration)
	defer cancel()
	results := make([]*inboxResult, len(plan.bySender))
	done := measureCPU()
	var wg sync.WaitGroup
	for s, posts := range plan.bySender {
		wg.Go(func() { results[s] = sendAll(ctx, client, inbox, posts) })
	}
	wg.Wait()
	use := done()
	if err := stopProfile(); err != nil {
		return nil, err
	}
	res := mergeResults(results)
	res.cpu = use
	return res, nil
}

// sendAll posts one sender's activities in order, until ctx ends.
func sendAll(ctx context.Context, client *http.Client, inbox string, posts []*inboxPost) *inboxResult {
	r := newInboxResult()
	for _, p := range posts {
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		status, err := p.send(ctx, client, inbox)
		elapsed := time.Since(start)
		if err != nil || status != http.StatusAccepted {
			r.refuse(status, err)
			continue
		}
		r.accepted++
		r.latencies = append(r.latencies, elapsed)
		if p.kind == "Update" {
			r.lastName[p.actor.ID] = p.name
		} else {
			r.created[p.actor.ID]++
		}
	}
	return r
}

func newInboxResult() *inboxResult {
	return &inboxResult{refused: map[string]int{}, lastName: map[string]string{}, created: map[string]int{}}
}

func (r *inboxResult) refuse(status int, err error) {
	key := fmt.Sprint(status)
	if err != nil {
		key = "error"
	}
	r.refused[key]++
	if r.sample == "" {
		r.sample = fmt.Sprintf("status %d, %v", status, err)
	}
}

// mergeResults joins the senders' results; actors are disjoint.
func mergeResults(parts []*inboxResult) *inboxResult {
	r := newInboxResult()
	for _, p := range parts {
		r.accepted += p.accepted
		r.latencies = append(r.latencies, p.latencies...)
		for k, v := range p.refused {
			r.refused[k] += v
		}
		if r.sample == "" {
			r.sample = p.sample
		}
		maps.Copy(r.lastName, p.lastName)
		maps.Copy(r.created, p.created)
	}
	slices.Sort(r.latencies)
	return r
}

// report prints the throughput and latencies.
func (r *inboxResult) report(out io.Writer, cfg inboxConfig, dialect string) {
	total := r.accepted
	for _, v := range r.refused {
		total += v
	}
	fmt.Fprintf(out, "inbox: %s, %d senders, %d actors, %d activities (half Update of the profile, half Create of a service) to /inbox\n",
		dialect, cfg.senders, cfg.actors, cfg.activities)
	fmt.Fprintf(out, "accepted (202): %d of %d posted in %.2f s: %.0f activities/s\n",
		r.accepted, total, r.cpu.wall.Seconds(), float64(r.accepted)/r.cpu.wall.Seconds())
	if len(r.refused) > 0 {
		fmt.Fprintf(out, "not accepted: %v (first: %s)\n", r.refused, r.sample)
	}
	l := r.latencies
	fmt.Fprintf(out, "latency: p50 %s, p90 %s, p99 %s, max %s\n",
		ms(percentile(l, 50)), ms(percentile(l, 90)), ms(percentile(l, 99)), ms(percentile(l, 100)))
	perActivity := time.Duration(0)
	if total > 0 {
		perActivity = r.cpu.cpu / time.Duration(total)
	}
	fmt.Fprintf(out, "cpu: %s; %s per activity, senders and node together\n", r.cpu, ms(perActivity))
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
}
