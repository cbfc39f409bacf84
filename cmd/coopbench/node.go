package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/node"
)

// nodeGrace bounds the node's shutdown: requests and deliveries in flight.
const nodeGrace = 10 * time.Second

// localNode is the node under test: built with internal/node as `coopnet
// serve` builds it (production delivery settings), with one coop, serving
// on a free port of 127.0.0.1.
type localNode struct {
	*node.Node
	Base   *url.URL
	Coop   directory.Coop
	cancel context.CancelFunc
	done   chan error
}

// startNode sets the node up over d, with the coop slug, and serves it.
// wire, if any, runs on the node before it serves (to add change hooks).
func startNode(ctx context.Context, d *db.DB, slug string, wire ...func(*node.Node)) (*localNode, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	base := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	n, err := node.New(d, node.Config{
		BaseURL: base, Logger: benchLogger(), AllowPrivateAddresses: true,
		BcryptCost: bcrypt.MinCost, LoginAttemptsPerMinute: 10, Version: "coopbench",
	})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("build the node: %w", err)
	}
	for _, w := range wire {
		w(n)
	}
	coop, _, err := n.Store.Setup(ctx, directory.SetupInput{
		CoopName: "Bench Workers", Slug: slug, AdminName: "Ada",
		AdminEmail: "ada@" + slug + ".example", Password: "correct horse battery staple",
	}, base.String())
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("set the coop up: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	out := &localNode{Node: n, Base: base, Coop: coop, cancel: cancel, done: make(chan error, 1)}
	go func() { out.done <- n.Serve(sctx, ln, nodeGrace) }()
	return out, nil
}

// ActorID is the coop's actor id.
func (n *localNode) ActorID() string {
	return n.Base.String() + federation.ActorPath(n.Coop.Slug)
}

// Stop shuts the node down and waits for it, a little longer than its grace.
func (n *localNode) Stop() error {
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		return nil
	case <-time.After(nodeGrace + 5*time.Second):
		return errors.New("node: did not stop in time")
	}
}

// benchLogger logs the node's warnings and errors to stderr: a refused
// activity or a failed delivery shows, the routine lines do not.
func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// setUpBench is what every node benchmark starts with: the load average
// noted, pprof served if asked, a fresh database and a node with the coop
// alpha. stop undoes all of it, in reverse order.
func setUpBench(ctx context.Context, out io.Writer, pprofAddr, databaseURL string) (*localNode, func() error, error) {
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	stopPprof, err := servePprof(pprofAddr)
	if err != nil {
		return nil, nil, err
	}
	bdb, err := openBenchDB(ctx, databaseURL)
	if err != nil {
		return nil, nil, errors.Join(err, stopPprof())
	}
	n, err := startNode(ctx, bdb.DB, "alpha")
	if err != nil {
		return nil, nil, errors.Join(err, bdb.Close(), stopPprof())
	}
	stop := func() error { return errors.Join(n.Stop(), bdb.Close(), stopPprof()) }
	return n, stop, nil
}
