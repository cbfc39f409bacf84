package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/node"
	"github.com/coopnet/coopnet/migrations"
)

// demoPassword is every demo admin's password: the demo runs on loopback only.
const demoPassword = "coopnet-demo"

// demoCoop is a sample coop of the demo network.
type demoCoop struct {
	profile  directory.Coop
	services []directory.Service
}

func price(v int64) *int64 { return &v }

var demoCoops = []demoCoop{
	{
		profile: directory.Coop{Slug: "alpha", Name: "Alpha Web Cooperative", City: "Montréal", Region: "QC", Country: "CA",
			Summary:   "A worker co-op building **accessible** websites and CiviCRM systems for nonprofits since 2011.",
			Languages: []string{"fr", "en"}, Skills: []string{"CiviCRM", "Drupal", "WordPress", "accessibility"},
			RemoteFriendly: true, YearFounded: 2011, LegalForm: "worker-coop", WorkerOwners: 7, Workers: 9,
			Networks: []string{"CoTech", "USFWC"}, Capacity: directory.CapacityOpen, Discoverable: true},
		services: []directory.Service{
			{Title: "CiviCRM migration", Description: "From spreadsheets to a CRM your team will use.", Category: "data-crm",
				Tags: []string{"CiviCRM", "migration"}, Pricing: "sliding-scale", PriceMin: price(40), PriceMax: price(90), Currency: "CAD", Active: true},
			{Title: "Accessible websites", Description: "WCAG 2.2 AA sites in Drupal or WordPress.", Category: "web-development",
				Tags: []string{"Drupal", "WordPress", "accessibility"}, Pricing: "fixed", Active: true},
		},
	},
	{
		profile: directory.Coop{Slug: "beta", Name: "Beta Data Collective", City: "Leeds", Country: "GB",
			Summary:   "Data, CRM and training for charities and community groups.",
			Languages: []string{"en"}, Skills: []string{"Salesforce", "CiviCRM", "Python", "training"},
			RemoteFriendly: true, YearFounded: 2016, LegalForm: "worker-coop", WorkerOwners: 5, Workers: 5,
			Networks: []string{"CoTech"}, Capacity: directory.CapacityLimited, Discoverable: true},
		services: []directory.Service{
			{Title: "Data clean-up and reporting", Category: "data-crm", Tags: []string{"data", "reporting"},
				Pricing: "hourly", PriceMin: price(45), PriceMax: price(70), Currency: "GBP", Active: true},
			{Title: "CRM training for staff", Category: "training", Tags: []string{"CiviCRM", "Salesforce"}, Pricing: "pro-bono", Active: true},
		},
	},
	{
		profile: directory.Coop{Slug: "gamma", Name: "Gamma Hosting Co-op", City: "Barcelona", Region: "Catalonia", Country: "ES",
			Summary:   "Green, privacy-respecting hosting and IT support, owned by its workers.",
			Languages: []string{"es", "ca", "en"}, Skills: []string{"hosting", "Linux", "security", "Nextcloud"},
			YearFounded: 2014, LegalForm: "worker-coop", WorkerOwners: 4, Workers: 6, Capacity: directory.CapacityOpen, Discoverable: true},
		services: []directory.Service{
			{Title: "Managed hosting", Category: "hosting", Tags: []string{"Nextcloud", "WordPress"}, Pricing: "fixed",
				PriceMin: price(15), PriceMax: price(120), Currency: "EUR", Active: true},
			{Title: "Security check-up", Category: "security", Tags: []string{"security", "audit"}, Pricing: "sliding-scale", Active: true},
		},
	},
}

func setupDemo(f *flagSet) func(context.Context, *app) error {
	ports := f.add("ports", "COOPNET_DEMO_PORTS", "8081,8082,8083", "PORTS", "three ports on 127.0.0.1, one per node")
	dir := f.add("data-dir", "COOPNET_DEMO_DATA_DIR", "", "DIR", "where the nodes keep their SQLite files; empty means a temporary folder, removed at the end")
	mf := addMailFlags(f) // to watch the notifications in a local mail catcher
	// The demo's own lines are its point: the nodes log warnings only, unless asked.
	lf := logFlags{
		format: f.add("log-format", "COOPNET_LOG_FORMAT", "text", "FORMAT", "text, for people, or json, for log collectors"),
		level:  f.add("log-level", "COOPNET_LOG_LEVEL", "warn", "LEVEL", "debug, info, warn or error"),
	}
	return func(ctx context.Context, a *app) error {
		ps, err := demoPorts(ports)
		if err != nil {
			return err
		}
		log, err := lf.logger(a.stderr)
		if err != nil {
			return err
		}
		root := dir.value
		if root == "" {
			if root, err = os.MkdirTemp("", "coopnet-demo-"); err != nil {
				return usageErrorf("cannot make a temporary folder: %v", err)
			}
			defer os.RemoveAll(root)
		}
		// The nodes' hosts are 127.0.0.1: the sender's default names the
		// demo instead, as an address must have a domain.
		if strings.TrimSpace(mf.from.value) == "" {
			mf.from.value = "coopnet@demo.example"
		}
		ms, err := mf.validate(&url.URL{Host: "demo.example"})
		if err != nil {
			return err
		}
		return runDemo(ctx, a, ps, root, ms, log)
	}
}

func demoPorts(o *option) ([]int, error) {
	parts := strings.Split(o.value, ",")
	if len(parts) != len(demoCoops) {
		return nil, o.invalid("must be %d ports separated by commas", len(demoCoops))
	}
	var ps []int
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 65535 {
			return nil, o.invalid("%q is not a port", p)
		}
		ps = append(ps, n)
	}
	return ps, nil
}

// demoNode is one running node of the demo.
type demoNode struct {
	node *node.Node
	coop directory.Coop
	url  string
	ln   net.Listener
}

func runDemo(ctx context.Context, a *app, ports []int, root string, ms mailSettings, log *slog.Logger) error {
	var nodes []*demoNode
	// Take every port first, so that a taken one fails before anything starts.
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			for _, n := range nodes {
				n.ln.Close()
			}
			return usageErrorf("cannot listen on 127.0.0.1:%d: %v", p, innerError(err))
		}
		nodes = append(nodes, &demoNode{ln: ln, url: fmt.Sprintf("http://127.0.0.1:%d", p)})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, len(nodes))
	for i, n := range nodes {
		if err := startDemoNode(ctx, n, demoCoops[i], filepath.Join(root, demoCoops[i].profile.Slug), ms, log, done); err != nil {
			cancel()
			return err
		}
	}
	for i, n := range nodes {
		for j, peer := range nodes {
			if i == j {
				continue
			}
			handle := peer.coop.Handle(strings.TrimPrefix(peer.url, "http://"))
			if err := n.node.Federation.Follow(ctx, n.coop.ID, handle); err != nil {
				return &runtimeError{fmt.Errorf("%s follows %s: %w", n.coop.Slug, handle, err)}
			}
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(a.stdout, "%s  %s@%s  (log in as admin@%s.example, password %s)\n",
			n.url, n.coop.Slug, strings.TrimPrefix(n.url, "http://"), n.coop.Slug, demoPassword)
	}
	if err := seedDemoReferral(ctx, a.stdout, nodes[0], nodes[1]); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "the three coops follow each other; press Ctrl-C to stop")

	var err error
	select {
	case <-ctx.Done():
	case err = <-done:
	}
	cancel()
	for range nodes[1:] {
		err = errors.Join(err, <-done)
	}
	return err
}

// startDemoNode opens the node's database, sets its coop up and serves it.
func startDemoNode(ctx context.Context, n *demoNode, sample demoCoop, dir string, ms mailSettings, log *slog.Logger, done chan<- error) error {
	d, err := db.Open(ctx, "", dir)
	if err != nil {
		return usageErrorf("demo: %v", err)
	}
	if _, err := migrations.Apply(ctx, d); err != nil {
		d.Close()
		return err
	}
	base, _ := url.Parse(n.url)
	n.node, err = node.New(d, node.Config{BaseURL: base, AllowPrivateAddresses: true, Version: version(),
		Logger: log.With("node", n.url), LoginAttemptsPerMinute: 60, SMTPURL: ms.smtpURL, MailFrom: ms.from})
	if err != nil {
		d.Close()
		return err
	}
	if n.coop, err = demoSetup(ctx, n.node.Store, sample, base.String()); err != nil {
		d.Close()
		return err
	}
	go func() {
		defer d.Close()
		done <- n.node.Serve(ctx, n.ln, 5*time.Second)
	}()
	return nil
}

// demoSetup creates the sample coop with its profile and services, unless a
// kept data directory has it already.
func demoSetup(ctx context.Context, store *directory.Store, sample demoCoop, baseURL string) (directory.Coop, error) {
	p := sample.profile
	if c, err := store.CoopBySlug(ctx, p.Slug); err == nil {
		return c, nil
	}
	c, _, err := store.Setup(ctx, directory.SetupInput{CoopName: p.Name, Slug: p.Slug, AdminName: "Admin",
		AdminEmail: "admin@" + p.Slug + ".example", Password: demoPassword}, baseURL)
	if err != nil {
		return directory.Coop{}, fmt.Errorf("demo: set up %s: %w", p.Slug, err)
	}
	p.ID = c.ID
	if c, err = store.UpdateCoop(ctx, p); err != nil {
		return directory.Coop{}, fmt.Errorf("demo: profile of %s: %w", p.Slug, err)
	}
	for _, svc := range sample.services {
		if _, err := store.CreateService(ctx, c.ID, svc); err != nil {
			return directory.Coop{}, fmt.Errorf("demo: service of %s: %w", p.Slug, err)
		}
	}
	return c, nil
}
