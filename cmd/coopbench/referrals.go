package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// The referral benchmark: two real nodes on 127.0.0.1, A (alpha) and B
// (beta), each with one coop and a database of its own. For each referral a
// client's request is made at A; then, timed from the call to Refer: A's
// queue builds the Offer (sealed envelope, B's key set) and delivers it; B's
// inbox verifies the signatures, decrypts the contact and stores the request;
// the bench sees that commit and accepts the request at B at once; B's queue
// delivers the Accept; A's inbox records it. Steps are seen through change
// hooks on the two referrals stores (referrals_pair.go), never by polling.

// referralsConfig holds the referral benchmark's flags.
type referralsConfig struct {
	referrals, concurrency, warmup, perHost int
	databaseURL                             string
	timeout, maxDuration                    time.Duration
	cpuProfile, pprofAddr                   string
}

func runReferrals(ctx context.Context, args []string, out io.Writer) error {
	var cfg referralsConfig
	fs := flag.NewFlagSet("referrals", flag.ContinueOnError)
	fs.IntVar(&cfg.referrals, "referrals", 1000, "referrals to time, A to B and accepted back")
	fs.IntVar(&cfg.concurrency, "concurrency", 1, "referrals in flight at once")
	fs.IntVar(&cfg.warmup, "warmup", 3, "untimed referrals first (the first fetches actors and key sets)")
	fs.IntVar(&cfg.perHost, "per-host", 0, "deliveries in flight from a node to one host (federation.DeliveryOptions.PerHost); 0 keeps the default, 4")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) to run on, a schema of its own per node; empty means SQLite files in temporary folders")
	fs.DurationVar(&cfg.timeout, "timeout", time.Minute, "give a referral up when a step takes longer than this")
	fs.DurationVar(&cfg.maxDuration, "max-duration", 10*time.Minute, "start no new referral after this long")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed referrals to this file")
	fs.StringVar(&cfg.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (127.0.0.1:6060) during the run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.referrals < 1 || cfg.referrals > 100_000 || cfg.concurrency < 1 || cfg.concurrency > 256 ||
		cfg.warmup < 1 || cfg.warmup > 100 || cfg.perHost < 0 || cfg.perHost > 256 {
		return usageErrorf("need 1 <= --referrals <= 100000, 1 <= --concurrency <= 256, 1 <= --warmup <= 100 and 0 <= --per-host <= 256")
	}
	return benchReferrals(ctx, cfg, out)
}

// benchReferrals starts the nodes, warms up, times the referrals and reports.
func benchReferrals(ctx context.Context, cfg referralsConfig, out io.Writer) (err error) {
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	stopPprof, err := servePprof(cfg.pprofAddr)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopPprof()) }()
	p, err := startPair(ctx, cfg.databaseURL, cfg.perHost)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.stop()) }()

	warm := time.Now()
	if _, err := p.runTrips(ctx, 0, cfg.warmup, 1, cfg.timeout, time.Hour); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Fprintf(out, "referrals: %s, A and B on 127.0.0.1; %d warm-up referrals one at a time took %s\n",
		p.dialect(), cfg.warmup, ms(time.Since(warm)))
	firstJob, err := p.lastJobIDs(ctx)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	cpu := measureCPU()
	times, runErr := p.runTrips(ctx, cfg.warmup, cfg.referrals, cfg.concurrency, cfg.timeout, cfg.maxDuration)
	use := cpu()
	if err := stopProfile(); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	reportReferrals(out, cfg, times, use)
	uses, err := p.queueUses(ctx, firstJob)
	if err != nil {
		return err
	}
	var roundTrips []time.Duration
	for _, t := range times {
		roundTrips = append(roundTrips, t.roundTrip)
	}
	reportQueueUses(out, uses, len(times), mean(roundTrips))
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
	return nil
}

// runTrips makes n referrals, numbered from first, with concurrency in
// flight, and returns their times. It starts no new one after maxDuration,
// and stops at the first error.
func (p *refPair) runTrips(ctx context.Context, first, n, concurrency int, timeout, maxDuration time.Duration) ([]tripTimes, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(maxDuration)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := first; i < first+n && time.Now().Before(deadline); i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var mu sync.Mutex
	var times []tripTimes
	var firstErr error
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t, err := p.trip(ctx, i, timeout)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil {
					times = append(times, t)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return times, firstErr
}

// reportReferrals prints the latencies, the throughput and the CPU used.
func reportReferrals(out io.Writer, cfg referralsConfig, times []tripTimes, use cpuUse) {
	pick := func(f func(tripTimes) time.Duration) []time.Duration {
		ds := make([]time.Duration, len(times))
		for i, t := range times {
			ds[i] = f(t)
		}
		slices.Sort(ds)
		return ds
	}
	spread := func(ds []time.Duration) string {
		return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s, mean %s", ms(percentile(ds, 50)), ms(percentile(ds, 90)),
			ms(percentile(ds, 99)), ms(ds[len(ds)-1]), ms(mean(ds)))
	}
	n := len(times)
	if n < cfg.referrals {
		fmt.Fprintf(out, "stopped after --max-duration %s: %d of %d referrals made\n", cfg.maxDuration, n, cfg.referrals)
	}
	fmt.Fprintf(out, "%d referrals, %d in flight\n", n, cfg.concurrency)
	fmt.Fprintf(out, "one way (A's Refer to B's commit of the stored request): %s\n", spread(pick(func(t tripTimes) time.Duration { return t.oneWay })))
	fmt.Fprintf(out, "round trip (A's Refer to A's commit of B's Accept): %s\n", spread(pick(func(t tripTimes) time.Duration { return t.roundTrip })))
	fmt.Fprintf(out, "from a step's commit to the bench seeing it (included above): p50 %s at B, %s at A\n",
		ms(percentile(pick(func(t tripTimes) time.Duration { return t.lagB }), 50)),
		ms(percentile(pick(func(t tripTimes) time.Duration { return t.lagA }), 50)))
	fmt.Fprintf(out, "wall time %.2f s: %.1f referrals/s, each offered, stored, accepted and recorded (both nodes handle every one)\n",
		use.wall.Seconds(), float64(n)/use.wall.Seconds())
	fmt.Fprintf(out, "CPU: %s; %.2f ms of CPU per referral (both nodes and the bench)\n",
		use, float64(use.cpu)/float64(time.Millisecond)/float64(n))
}

// mean returns the mean of ds: means add up, so the queue's share of the
// round trip can be told from them.
func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
