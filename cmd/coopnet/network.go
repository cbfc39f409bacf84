package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/node"
)

// The network commands do from the command line what the Network page does.
// They work on the database directly: a Follow they send is queued there and
// delivered by the node's `coopnet serve` (at once if it runs, or when it
// starts).

func setupFollow(f *flagSet) func(context.Context, *app) error {
	f.positional = "HANDLE_OR_URL"
	slug := f.add("slug", "COOPNET_COOP_SLUG", "", "SLUG", "the coop that follows (required)")
	st := addStorageFlags(f)
	private := addAllowPrivateFlag(f)
	return func(ctx context.Context, a *app) error {
		return withCoop(ctx, a, slug, st, private, func(n *node.Node, coop directory.Coop) error {
			target := f.arg()
			if err := n.Federation.Follow(ctx, coop.ID, target); err != nil {
				if errors.Is(err, federation.ErrFollowLocal) || errors.Is(err, federation.ErrHostRefused) {
					return usageErrorf("%v", err)
				}
				return &runtimeError{fmt.Errorf("follow %s: %w", target, err)}
			}
			fmt.Fprintf(a.stdout, "%s asked to follow %s; it shows as following once the peer accepts\n", coop.Slug, target)
			return nil
		})
	}
}

func setupFollowers(f *flagSet) func(context.Context, *app) error {
	return setupFollowList(f, (*federation.Federation).Followers)
}

func setupFollowing(f *flagSet) func(context.Context, *app) error {
	return setupFollowList(f, (*federation.Federation).Following)
}

func setupFollowList(f *flagSet, list func(*federation.Federation, context.Context, int64) ([]federation.Follow, error)) func(context.Context, *app) error {
	slug := f.add("slug", "COOPNET_COOP_SLUG", "", "SLUG", "the coop (required)")
	st := addStorageFlags(f)
	return func(ctx context.Context, a *app) error {
		opt := &option{value: "false"}
		return withCoop(ctx, a, slug, st, opt, func(n *node.Node, coop directory.Coop) error {
			follows, err := list(n.Federation, ctx, coop.ID)
			if err != nil {
				return &runtimeError{err}
			}
			printFollows(a.stdout, follows)
			return nil
		})
	}
}

// printFollows writes one line per relation: state, handle, actor id.
func printFollows(w io.Writer, follows []federation.Follow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, fl := range follows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", fl.State, fl.Handle, fl.ActorID)
	}
	tw.Flush()
}

// withCoop opens the node's database, wires the node and runs fn for the
// coop named by --slug.
func withCoop(ctx context.Context, a *app, slug *option, st storageFlags, private *option, fn func(*node.Node, directory.Coop) error) error {
	if err := required(slug); err != nil {
		return err
	}
	s, err := st.validate()
	if err != nil {
		return err
	}
	allow, err := boolOption(private)
	if err != nil {
		return err
	}
	d, _, err := openDatabase(ctx, s)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := node.New(d, node.Config{BaseURL: s.baseURL, AllowPrivateAddresses: allow, Version: version(),
		Logger: discardLogger()})
	if err != nil {
		return err
	}
	coop, err := n.Store.CoopBySlug(ctx, slug.value)
	if errors.Is(err, directory.ErrNotFound) {
		return usageErrorf("no coop %q on this node", slug.value)
	}
	if err != nil {
		return err
	}
	return fn(n, coop)
}
