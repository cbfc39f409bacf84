package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
)

// The inbox benchmark: a local coop follows fake remote coops (through the
// real API: WebFinger, actor fetch, a queued Follow they Accept), so that
// their profile Updates and service Creates are applied to the directory.
// Then concurrent senders post activities signed ahead of time (signing is
// the sender's cost) to the shared inbox. Each actor belongs to one sender,
// so its activities arrive in order and the directory's end state is known:
// every coop shows its last Update's name and lists every service created.

// inboxConfig holds the inbox benchmark's flags.
type inboxConfig struct {
	senders, actors, activities int
	databaseURL                 string
	maxDuration                 time.Duration
	cpuProfile                  string
	pprofAddr                   string
}

// setupWait bounds each wait of the setup: Follows delivered, Accepts
// applied, peers read.
const setupWait = 60 * time.Second

func runInbox(ctx context.Context, args []string, out io.Writer) error {
	var cfg inboxConfig
	fs := flag.NewFlagSet("inbox", flag.ContinueOnError)
	fs.IntVar(&cfg.senders, "senders", 16, "concurrent senders")
	fs.IntVar(&cfg.actors, "actors", 50, "fake remote actors (at least as many as senders)")
	fs.IntVar(&cfg.activities, "activities", 20000, "activities to post, half Update (profile), half Create (service)")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) to run on, in a schema of its own; empty means SQLite in a temporary folder")
	fs.DurationVar(&cfg.maxDuration, "max-duration", 10*time.Minute, "stop posting after this long")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the posting phase to this file")
	fs.StringVar(&cfg.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address (127.0.0.1:6060) during the run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.senders < 1 || cfg.actors < cfg.senders || cfg.activities < 1 || cfg.activities > 1_000_000 {
		return usageErrorf("need 1 <= --senders <= --actors and 1 <= --activities <= 1000000")
	}
	return benchInbox(ctx, cfg, out)
}

// benchInbox sets up the node and its peers, posts, verifies and reports.
func benchInbox(ctx context.Context, cfg inboxConfig, out io.Writer) (err error) {
	n, stop, err := setUpBench(ctx, out, cfg.pprofAddr, cfg.databaseURL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	peers, err := startFakePeers(ctx, cfg.actors)
	if err != nil {
		return err
	}
	defer peers.Close()

	if err := followPeers(ctx, n, peers); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	inbox := n.Base.String() + "/inbox"
	plan, err := planInbox(cfg, peers.Actors)
	if err != nil {
		return err
	}
	if err := plan.sign(ctx, inbox); err != nil {
		return err
	}
	seenBefore, err := countRows(ctx, n, `SELECT COUNT(*) FROM inbox_seen`)
	if err != nil {
		return err
	}
	res, err := plan.send(ctx, cfg, inbox)
	if err != nil {
		return err
	}
	res.report(out, cfg, string(n.DB.Dialect()))
	return verifyInbox(ctx, n, peers, res, seenBefore, out)
}

// followPeers makes the local coop follow every fake actor, by handle, and
// has each actor Accept: the peer is then read (profile and services) and
// listed, and its key is in the node's cache.
func followPeers(ctx context.Context, n *localNode, p *fakePeers) error {
	host := strings.TrimPrefix(p.URL, "http://")
	for _, a := range p.Actors {
		if err := n.Federation.Follow(ctx, n.Coop.ID, a.Slug+"@"+host); err != nil {
			return fmt.Errorf("follow %s: %w", a.ID, err)
		}
	}
	err := await(ctx, setupWait, "every peer received its Follow", func() (bool, error) {
		for _, a := range p.Actors {
			if _, ok := p.FollowOf(a.ID); !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	client := newSenderClient(4)
	for _, a := range p.Actors {
		if err := accept(ctx, client, n, a, p); err != nil {
			return err
		}
	}
	return await(ctx, setupWait, "the node listed every peer", func() (bool, error) {
		for _, a := range p.Actors {
			_, err := n.Store.RemoteCoopByActor(ctx, a.ID)
			if errors.Is(err, directory.ErrNotFound) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// accept posts the actor's signed Accept of the local coop's Follow.
func accept(ctx context.Context, client *http.Client, n *localNode, a *fakeActor, p *fakePeers) error {
	followID, _ := p.FollowOf(a.ID)
	follow := map[string]any{"id": followID, "type": "Follow", "actor": n.ActorID(), "object": a.ID}
	post, err := newInboxPost(a, "accept", a.Activity("accept", "Accept", follow))
	if err != nil {
		return err
	}
	if err := post.sign(n.Base.String() + "/inbox"); err != nil {
		return err
	}
	status, err := post.send(ctx, client, n.Base.String()+"/inbox")
	if err != nil {
		return fmt.Errorf("accept of %s: %w", a.ID, err)
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("accept of %s: status %d", a.ID, status)
	}
	return nil
}

// verifyInbox checks that every accepted activity was recorded and that the
// directory shows each actor's last Update and every service created.
func verifyInbox(ctx context.Context, n *localNode, p *fakePeers, r *inboxResult, seenBefore int, out io.Writer) error {
	seen, err := countRows(ctx, n, `SELECT COUNT(*) FROM inbox_seen`)
	if err != nil {
		return err
	}
	var problems []string
	if seen-seenBefore != r.accepted {
		problems = append(problems, fmt.Sprintf("%d activities recorded as seen, %d accepted", seen-seenBefore, r.accepted))
	}
	names, services, wantServices := 0, 0, 0
	for _, a := range p.Actors {
		c, err := n.Store.RemoteCoopByActor(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("verify %s: %w", a.ID, err)
		}
		if want, ok := r.lastName[a.ID]; !ok || c.Name == want {
			names++
		} else {
			problems = append(problems, fmt.Sprintf("%s is named %q, not %q", a.ID, c.Name, want))
		}
		list, err := n.Store.ListRemoteServices(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("verify %s: %w", a.ID, err)
		}
		services += len(list)
		wantServices += r.created[a.ID]
	}
	if services != wantServices {
		problems = append(problems, fmt.Sprintf("%d services listed, %d created", services, wantServices))
	}
	fmt.Fprintf(out, "verified in the directory: %d/%d coops named by their last Update, %d/%d services listed, %d activities recorded\n",
		names, len(p.Actors), services, wantServices, seen-seenBefore)
	if len(problems) > 0 {
		return fmt.Errorf("verification failed: %s", strings.Join(problems[:min(len(problems), 5)], "; "))
	}
	return nil
}

// countRows runs a COUNT query on the node's database.
func countRows(ctx context.Context, n *localNode, query string) (int, error) {
	var c int
	if err := n.DB.QueryRow(ctx, query).Scan(&c); err != nil {
		return 0, fmt.Errorf("%s: %w", query, err)
	}
	return c, nil
}
