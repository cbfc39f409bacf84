package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
)

// The node of the search benchmark: the generated network bulk-loaded into
// the database `coopnet init` made, then `coopnet serve` on it.

// searchNetwork is the generated network as peers' coops in the node's
// database, opened from this process too.
type searchNetwork struct {
	db       *db.DB
	store    *directory.Store
	coops    []directory.RemoteCoop
	services int
}

// loadNetwork converts docs into peers' coops, on made-up hosts of
// coopsPerPeer coops each, and bulk-loads them into p's database.
func loadNetwork(ctx context.Context, p *coopnetProc, docs []search.Doc, out io.Writer) (*searchNetwork, error) {
	d, err := db.Open(ctx, p.databaseURL, p.dataDir)
	if err != nil {
		return nil, fmt.Errorf("open the node's database: %w", err)
	}
	n := &searchNetwork{db: d, store: directory.NewStore(d, bcrypt.MinCost)}
	coops, services := remoteNetwork(docs)
	n.coops = coops
	for _, svcs := range services {
		n.services += len(svcs)
	}
	began := time.Now()
	if err := n.store.BulkLoadRemote(ctx, coops, services); err != nil {
		return nil, errors.Join(fmt.Errorf("bulk load: %w", err), d.Close())
	}
	fmt.Fprintf(out, "bulk load: %d coops and %d services of %d peer hosts into %s in %s\n",
		len(coops), n.services, (len(coops)+coopsPerPeer-1)/coopsPerPeer, d.Dialect(), ms(time.Since(began)))
	return n, nil
}

// Close closes this process's connection to the database.
func (n *searchNetwork) Close() error { return n.db.Close() }

// remoteNetwork turns generated docs into peers' coops and their services,
// as a node that follows them would have stored them.
func remoteNetwork(docs []search.Doc) ([]directory.RemoteCoop, [][]directory.RemoteService) {
	coops := make([]directory.RemoteCoop, len(docs))
	services := make([][]directory.RemoteService, len(docs))
	for i, d := range docs {
		slug := "coop-" + strconv.FormatInt(d.ID, 10)
		actor := fmt.Sprintf("https://peer-%d.example%s", i/coopsPerPeer+1, federation.ActorPath(slug))
		coops[i] = directory.RemoteCoop{
			ActorID: actor, URL: actor,
			Coop: directory.Coop{
				Slug: slug, Name: d.Name, Summary: d.Summary, City: d.City, Region: d.Region,
				Country: d.Country, RegionsServed: d.RegionsServed, RemoteFriendly: d.RemoteFriendly,
				Languages: d.Languages, Capacity: directory.Capacity(d.Capacity), Skills: d.Skills,
				Discoverable: true,
			},
		}
		for _, s := range d.Services {
			id := actor + "/services/" + strconv.FormatInt(s.ID, 10)
			services[i] = append(services[i], directory.RemoteService{
				ObjectID: id, URL: id,
				Service: directory.Service{
					Title: s.Title, Description: s.Description, Category: s.Category,
					Tags: s.Tags, Pricing: s.Pricing, Active: true,
				},
			})
		}
	}
	return coops, services
}

// searchNode is a running `coopnet serve`.
type searchNode struct {
	cmd *exec.Cmd
	log *os.File
}

// searchReadyTimeout bounds the node's start: migrations checked and the
// directory index built from the database.
const searchReadyTimeout = 2 * time.Minute

// startSearchNode starts `coopnet serve` on p's database, times it until
// /healthz and /readyz answer 200 and reports its memory after 2 s idle.
func startSearchNode(ctx context.Context, p *coopnetProc, out io.Writer) (*searchNode, error) {
	logFile, err := os.Create(p.logPath())
	if err != nil {
		return nil, fmt.Errorf("serve log: %w", err)
	}
	cmd := p.command(ctx, append([]string{"serve", "--listen", p.addr}, p.storageArgs()...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start coopnet serve: %w", err)
	}
	n := &searchNode{cmd: cmd, log: logFile}
	fail := func(err error) (*searchNode, error) {
		return nil, errors.Join(err, n.stop(), errors.New(p.logTail()))
	}
	deadline := start.Add(searchReadyTimeout)
	healthz, err := pollOK(ctx, p.baseURL()+"/healthz", start, deadline, 2*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	readyz, err := pollOK(ctx, p.baseURL()+"/readyz", start, deadline, 2*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "node: coopnet serve answered /healthz after %s, /readyz after %s (target: index built < 3 s)\n",
		ms(healthz), ms(readyz))
	fmt.Fprintf(out, "node: it logged %s\n", indexBuiltLine(p.logPath()))
	if !sleep(ctx, 2*time.Second) {
		return fail(ctx.Err())
	}
	if err := n.reportMemory(out, "after the load, 2 s idle"); err != nil {
		return fail(err)
	}
	return n, nil
}

// indexBuiltLine returns the attributes of the "directory index built" line
// of the log at path (docs, services, took, index_bytes).
func indexBuiltLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "nothing readable: " + err.Error()
	}
	// The node's logger writes msg="directory index built", the default
	// logger INFO directory index built: either way the attributes follow.
	const msg = `directory index built`
	for line := range bytes.Lines(b) {
		if _, attrs, ok := strings.Cut(string(line), msg); ok {
			return `"directory index built"` + strings.TrimRight(strings.TrimPrefix(attrs, `"`), "\n")
		}
	}
	return `no "directory index built" line`
}

func (n *searchNode) pid() int { return n.cmd.Process.Pid }

// reportMemory prints the node's resident memory.
func (n *searchNode) reportMemory(out io.Writer, when string) error {
	rss, hwm, err := processMemory(n.pid())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "node: VmRSS %.1f MB (peak VmHWM %.1f MB) %s (target < 200 MB)\n", rss, hwm, when)
	return nil
}

// stop stops the node and closes its log.
func (n *searchNode) stop() error {
	return errors.Join(stopProcess(n.cmd), n.log.Close())
}

// processCPU returns the user and system CPU time process pid has used,
// from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read process CPU: %w", err)
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 13 {
		return 0, errors.New("read process CPU: unexpected /proc stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * clockTick, nil
}
