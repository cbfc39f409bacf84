package main

import (
	"context"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
)

// The fan-out benchmark: the local coop has followers on many loopback
// hosts (rows inserted as the delivery tests insert them: the followers'
// actors are cached, their follows accepted); its profile changes once per
// run through the directory, as an admin's edit would; the node queues an
// Update per inbox in that transaction and its delivery workers sign and
// post them. Each run is timed from the call to UpdateCoop to the last POST
// whose signature the sinks verified.

// fanoutConfig holds the fan-out benchmark's flags.
type fanoutConfig struct {
	followers, hosts int
	shared           bool
	runs             int
	databaseURL      string
	runTimeout       time.Duration
	pause            time.Duration
	cpuProfile       string
	pprofAddr        string
}

func runFanout(ctx context.Context, args []string, out io.Writer) error {
	var cfg fanoutConfig
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.IntVar(&cfg.followers, "followers", 1000, "remote followers of the coop")
	fs.IntVar(&cfg.hosts, "hosts", 1000, "loopback hosts (ports of 127.0.0.1) the followers are spread over; must divide --followers")
	fs.BoolVar(&cfg.shared, "shared-inbox", false, "followers' actors name their host's shared inbox (one POST per host)")
	fs.IntVar(&cfg.runs, "runs", 5, "profile Updates to time, one after the other; the first is cold (new connections)")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) to run on, in a schema of its own; empty means SQLite in a temporary folder")
	fs.DurationVar(&cfg.runTimeout, "run-timeout", time.Minute, "give a run up after this long")
	fs.DurationVar(&cfg.pause, "pause", time.Second, "pause between runs, for the queue to record the finished jobs")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the runs to this file")
	fs.StringVar(&cfg.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (127.0.0.1:6060) during the run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.hosts < 1 || cfg.hosts > 5000 || cfg.followers < cfg.hosts || cfg.followers%cfg.hosts != 0 || cfg.followers > 100_000 {
		return usageErrorf("need 1 <= --hosts <= 5000, --hosts dividing --followers, and --followers <= 100000")
	}
	if cfg.runs < 1 || cfg.runs > 100 {
		return usageErrorf("--runs must be 1 to 100")
	}
	return benchFanout(ctx, cfg, out)
}

// benchFanout sets up the node, its followers and the sinks, and times the
// runs.
func benchFanout(ctx context.Context, cfg fanoutConfig, out io.Writer) (err error) {
	n, stop, err := setUpBench(ctx, out, cfg.pprofAddr, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	keyID, pub, err := fetchPublicKey(ctx, n.ActorID())
	if err != nil {
		return err
	}
	s, err := startSinks(cfg.hosts, keyID, pub)
	if err != nil {
		return err
	}
	defer s.Close()
	perHost := cfg.followers / cfg.hosts
	if err := addFollowers(ctx, n.DB, n.Coop.ID, s.URLs, perHost, cfg.shared); err != nil {
		return err
	}
	want := cfg.followers
	if cfg.shared {
		want = cfg.hosts
	}
	fmt.Fprintf(out, "fanout: %s, %d followers on %d hosts (%d per host), shared inboxes %v: %d POSTs per Update\n",
		string(n.DB.Dialect()), cfg.followers, cfg.hosts, perHost, cfg.shared, want)
	runs, err := timeRuns(ctx, cfg, n, s, want)
	if err != nil {
		return err
	}
	reportFanout(out, runs)
	if bad := s.bad.Load(); bad > 0 {
		return fmt.Errorf("%d deliveries failed signature verification", bad)
	}
	return nil
}

// fanoutRun is one timed Update.
type fanoutRun struct {
	total, queueing time.Duration
	cpu             cpuUse
}

// timeRuns changes the coop's profile cfg.runs times and times each
// delivery to every inbox.
func timeRuns(ctx context.Context, cfg fanoutConfig, n *localNode, s *sinks, want int) ([]fanoutRun, error) {
	stopProfile, err := startProfile(cfg.cpuProfile)
	if err != nil {
		return nil, err
	}
	coop := n.Coop
	var runs []fanoutRun
	for i := range cfg.runs {
		if i > 0 && !sleep(ctx, cfg.pause) {
			break
		}
		var run fanoutRun
		coop, run, err = timeRun(ctx, cfg, n.Store, coop, s, want, i+1)
		if err != nil {
			return nil, errors.Join(err, stopProfile())
		}
		runs = append(runs, run)
	}
	return runs, stopProfile()
}

// timeRun renames the coop, which publishes an Update of its profile, and
// waits until every inbox has verified it.
func timeRun(ctx context.Context, cfg fanoutConfig, store *directory.Store, coop directory.Coop, s *sinks, want, run int) (directory.Coop, fanoutRun, error) {
	coop.Name = fmt.Sprintf("Bench Workers (run %03d)", run)
	done := s.expect(want, coop.Name)
	cpu := measureCPU()
	start := time.Now()
	coop, err := store.UpdateCoop(ctx, coop)
	if err != nil {
		return coop, fanoutRun{}, fmt.Errorf("run %d: update the profile: %w", run, err)
	}
	queueing := time.Since(start)
	select {
	case <-done:
	case <-ctx.Done():
		return coop, fanoutRun{}, fmt.Errorf("run %d: %w", run, ctx.Err())
	case <-time.After(cfg.runTimeout):
		return coop, fanoutRun{}, fmt.Errorf("run %d: %d of %d delivered after %s", run, s.got.Load(), want, cfg.runTimeout)
	}
	return coop, fanoutRun{total: s.lastAt().Sub(start), queueing: queueing, cpu: cpu()}, nil
}

func reportFanout(out io.Writer, runs []fanoutRun) {
	var totals []time.Duration
	for i, r := range runs {
		totals = append(totals, r.total)
		fmt.Fprintf(out, "run %d: all delivered and verified in %s (UpdateCoop, whose transaction queues the deliveries, took %s); %s\n",
			i+1, ms(r.total), ms(r.queueing), r.cpu)
	}
	fmt.Fprintf(out, "first (cold) run: %s\n", ms(runs[0].total))
	if len(runs) > 1 {
		warm := totals[1:]
		fmt.Fprintf(out, "warm runs: median %s, min %s, max %s\n", ms(median(warm)), ms(minOf(warm)), ms(maxOf(warm)))
	}
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
}

func minOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxOf(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// fetchPublicKey reads the coop's key from its actor document, served by
// the node, as a remote server would.
func fetchPublicKey(ctx context.Context, actorID string) (string, *rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, actorID, nil)
	if err != nil {
		return "", nil, fmt.Errorf("fetch the coop's key: %w", err)
	}
	req.Header.Set("Accept", "application/activity+json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, fmt.Errorf("fetch the coop's key: %w", err)
	}
	defer resp.Body.Close()
	var doc struct {
		PublicKey struct {
			ID           string `json:"id"`
			PublicKeyPem string `json:"publicKeyPem"`
		} `json:"publicKey"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("fetch the coop's key: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", nil, fmt.Errorf("fetch the coop's key: %w", err)
	}
	pub, err := federation.ParsePublicKeyPEM(doc.PublicKey.PublicKeyPem)
	if err != nil {
		return "", nil, fmt.Errorf("fetch the coop's key: %w", err)
	}
	return doc.PublicKey.ID, pub, nil
}

// addFollowers records perHost accepted followers on every sink host, in
// one transaction, with their actors cached as a fetch would have cached
// them (Person actors, with a shared inbox when shared).
func addFollowers(ctx context.Context, d *db.DB, coopID int64, hosts []string, perHost int, shared bool) error {
	now := db.Now()
	return d.Tx(ctx, func(tx *sql.Tx) error {
		for _, base := range hosts {
			sharedInbox := ""
			if shared {
				sharedInbox = base + "/inbox"
			}
			for j := range perHost {
				actor := fmt.Sprintf("%s/users/u%d", base, j)
				if _, err := tx.ExecContext(ctx, `INSERT INTO remote_actors (id, host, type, inbox, shared_inbox, fetched_at)
					VALUES ($1, $2, 'Person', $3, $4, $5)`, actor, strings.TrimPrefix(base, "http://"), actor+"/inbox", sharedInbox, now); err != nil {
					return fmt.Errorf("add follower %s: %w", actor, err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO followers (coop_id, actor_id, follow_id, state, created_at)
					VALUES ($1, $2, $3, 'accepted', $4)`, coopID, actor, actor+"#follow", now); err != nil {
					return fmt.Errorf("add follower %s: %w", actor, err)
				}
			}
		}
		return nil
	})
}
