package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/directory/search"
)

// The HTTP phase: clients on GET /api/v1/search of the running node, each
// request one generated query, in two runs.
//
// The closed loop measures the most the node can serve: each client sends
// its next search as soon as its answer is in, so the clients are always
// waiting, and the latency is mostly the queue: with 64 clients the mean
// is 64 ÷ throughput (21 ms at 3,000/s), whatever the node does.
//
// The open loop measures latency at a given load, as users would see it:
// the clients send at a fixed rate in all (--rate), each request due at its
// own time in one schedule, and each latency counts from the due time, not
// from when the request went out. A client held up by a slow answer sends
// the requests it owes at once, and their wait is counted: the slow answer
// is charged for every request it delayed. Timing from the actual send
// would hide those waits (coordinated omission; wrk2 corrects for it the
// same way).

// maxSearchRequests bounds the requests of one HTTP run, beside its time.
const maxSearchRequests = 5_000_000

// apiLoad is what one HTTP run measured.
type apiLoad struct {
	rate      float64         // the open loop's rate; 0 for the closed loop
	latencies []time.Duration // of the requests answered 200, from the due time, sorted
	sent      []time.Duration // the same from the actual send (in the closed loop the same time)
	unsent    int             // open loop: requests due before the end that were never sent
	failed    int
	firstErr  string
	bytes     int64
	wall      time.Duration
	client    cpuUse
	nodeCPU   time.Duration
}

// loadSearchAPI warms the node up, then runs the closed loop and, with a
// rate, the open loop, each for cfg.duration. It returns what they
// measured and the CPU both sides used.
func loadSearchAPI(ctx context.Context, addr string, queries []search.Query, cfg searchConfig, pid int) ([]*apiLoad, error) {
	targets := make([]string, len(queries))
	for i, q := range queries {
		v := searchParams(q)
		if cfg.facets {
			v.Set("facets", "true")
		}
		targets[i] = "/api/v1/search?" + v.Encode()
	}
	clients := make([]*rawClient, cfg.clients)
	for i := range clients {
		clients[i] = &rawClient{addr: addr}
		defer clients[i].close()
	}
	if warm := searchClosedRun(ctx, clients, targets, min(2*time.Second, cfg.duration/5)); warm.failed > 0 {
		return nil, fmt.Errorf("search API: %d requests failed while warming up: %s", warm.failed, warm.firstErr)
	}
	runs := []func() *apiLoad{func() *apiLoad { return searchClosedRun(ctx, clients, targets, cfg.duration) }}
	if cfg.rate > 0 {
		runs = append(runs, func() *apiLoad { return searchOpenRun(ctx, clients, targets, cfg.rate, cfg.duration) })
	}
	var out []*apiLoad
	for _, run := range runs {
		r, err := measureNode(pid, run)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// measureNode runs run and adds the CPU that this process and the node
// (process pid) used meanwhile.
func measureNode(pid int, run func() *apiLoad) (*apiLoad, error) {
	before, err := processCPU(pid)
	if err != nil {
		return nil, err
	}
	done := measureCPU()
	r := run()
	r.client = done()
	after, err := processCPU(pid)
	if err != nil {
		return nil, err
	}
	r.nodeCPU = after - before
	return r, nil
}

// searchParams are the API's parameters for q: text, regions and skills,
// the only filters generated queries have.
func searchParams(q search.Query) url.Values {
	v := url.Values{"q": {q.Text}}
	for _, r := range q.Regions {
		v.Add("region", r)
	}
	for _, s := range q.Skills {
		v.Add("skill", s)
	}
	return v
}

// searchClosedRun has the clients request targets, in turn, each sending
// its next request when its answer is in, until d has passed (or
// maxSearchRequests were sent).
func searchClosedRun(ctx context.Context, clients []*rawClient, targets []string, d time.Duration) *apiLoad {
	var next atomic.Int64
	parts := make([]apiLoad, len(clients))
	began := time.Now()
	deadline := began.Add(d)
	var wg sync.WaitGroup
	for w := range parts {
		wg.Go(func() {
			r := &parts[w]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= maxSearchRequests {
					return
				}
				r.record(clients[w], targets[i%int64(len(targets))], time.Now())
			}
		})
	}
	wg.Wait()
	return mergeLoads(parts, time.Since(began))
}

// searchOpenRun sends rate requests a second in all for d. Request j is due
// at began + j/rate and is sent by client j mod len(clients), which waits
// for its previous answer first: at most one request a client is in
// flight, each client sending every len(clients)/rate seconds (21 ms for
// 64 clients at 3,000/s) when the node keeps up. A request still unsent at
// the end is counted in unsent: the node was behind.
func searchOpenRun(ctx context.Context, clients []*rawClient, targets []string, rate float64, d time.Duration) *apiLoad {
	total := min(int64(rate*d.Seconds()), maxSearchRequests)
	n := int64(len(clients))
	parts := make([]apiLoad, n)
	began := time.Now()
	end := began.Add(d)
	var wg sync.WaitGroup
	for w := range parts {
		wg.Go(func() {
			r := &parts[w]
			for j := int64(w); j < total; j += n {
				due := began.Add(time.Duration(float64(j) * float64(time.Second) / rate))
				if wait := time.Until(due); wait > 0 && !sleep(ctx, wait) {
					return
				}
				if ctx.Err() != nil {
					return
				}
				if time.Now().After(end) {
					r.unsent = int((total - j + n - 1) / n)
					return
				}
				r.record(clients[w], targets[j%int64(len(targets))], due)
			}
		})
	}
	wg.Wait()
	out := mergeLoads(parts, time.Since(began))
	out.rate = rate
	return out
}

// record sends one request and records its latency from due and from now.
func (r *apiLoad) record(c *rawClient, target string, due time.Time) {
	sent := time.Now()
	n, err := c.get(target)
	if err != nil {
		if r.failed++; r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	end := time.Now()
	r.latencies = append(r.latencies, end.Sub(due))
	r.sent = append(r.sent, end.Sub(sent))
	r.bytes += n
}

// mergeLoads adds the clients' parts of one run together.
func mergeLoads(parts []apiLoad, wall time.Duration) *apiLoad {
	out := &apiLoad{wall: wall}
	for _, p := range parts {
		out.latencies = append(out.latencies, p.latencies...)
		out.sent = append(out.sent, p.sent...)
		out.unsent += p.unsent
		out.failed += p.failed
		out.bytes += p.bytes
		if out.firstErr == "" {
			out.firstErr = p.firstErr
		}
	}
	slices.Sort(out.latencies)
	slices.Sort(out.sent)
	return out
}

// answerBuffer is the size of a client's reads: a whole answer of ~46 kB.
const answerBuffer = 64 << 10

// latencyLine reads "p50 3.1 ms, p90 5.0 ms, p99 12.3 ms, max 40.2 ms".
func latencyLine(sorted []time.Duration) string {
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", ms(percentile(sorted, 50)), ms(percentile(sorted, 90)),
		ms(percentile(sorted, 99)), ms(percentile(sorted, 100)))
}

func (r *apiLoad) report(out io.Writer, clients int) {
	n := len(r.latencies)
	if r.rate == 0 {
		fmt.Fprintf(out, "  closed loop, %d clients each waiting for its answer (the most the node serves): %d searches in %.1f s: %.0f/s (target >= 3000/s); %s\n",
			clients, n, r.wall.Seconds(), float64(n)/r.wall.Seconds(), latencyLine(r.latencies))
	} else {
		fmt.Fprintf(out, "  open loop, %d clients sending %.0f/s in all: %d searches in %.1f s: %.0f/s; from each one's due time %s (target p99 < 20 ms at 3000/s)\n",
			clients, r.rate, n, r.wall.Seconds(), float64(n)/r.wall.Seconds(), latencyLine(r.latencies))
		fmt.Fprintf(out, "    from the actual send (what coordinated omission would report): %s; %d due but not sent by the end\n",
			latencyLine(r.sent), r.unsent)
	}
	fmt.Fprintf(out, "    %.1f kB a response; %d failed\n", float64(r.bytes)/float64(max(n, 1))/1000, r.failed)
	if r.failed > 0 {
		fmt.Fprintf(out, "    first failure: %s\n", r.firstErr)
	}
	fmt.Fprintf(out, "    clients (coopbench): %s\n", r.client)
	fmt.Fprintf(out, "    node (coopnet serve): %.1f s CPU (%.0f%% of %d cores), %.0f µs a search\n",
		r.nodeCPU.Seconds(), 100*r.nodeCPU.Seconds()/(r.wall.Seconds()*float64(runtime.NumCPU())), runtime.NumCPU(),
		float64(r.nodeCPU.Microseconds())/float64(max(n, 1)))
}
