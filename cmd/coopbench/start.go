package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The start benchmark: build the coopnet binary, set a node up with `coopnet
// init`, then start `coopnet serve` on that existing database several times,
// timing each start until /healthz and then /readyz answer 200, and reading
// the process's resident memory after it has idled.

// startConfig holds the start benchmark's flags.
type startConfig struct {
	runs         int
	src, binary  string
	databaseURL  string
	idle         time.Duration
	readyTimeout time.Duration
	poll         time.Duration
}

func runStart(ctx context.Context, args []string, out io.Writer) error {
	var cfg startConfig
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.IntVar(&cfg.runs, "runs", 5, "starts to time")
	fs.StringVar(&cfg.src, "src", ".", "the coopnet module's folder, where ./cmd/coopnet is built")
	fs.StringVar(&cfg.binary, "binary", "", "time this coopnet binary instead of building one")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "PostgreSQL URL (postgres://…) to run on, in a schema of its own; empty means SQLite in a temporary folder")
	fs.DurationVar(&cfg.idle, "idle", 2*time.Second, "idle time before reading the resident memory")
	fs.DurationVar(&cfg.readyTimeout, "ready-timeout", 15*time.Second, "give a start up after this long")
	fs.DurationVar(&cfg.poll, "poll", 2*time.Millisecond, "interval between health checks")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.runs < 1 || cfg.runs > 50 {
		return usageErrorf("--runs must be 1 to 50")
	}
	return benchStart(ctx, cfg, out)
}

// benchStart builds, sets up and times the starts.
func benchStart(ctx context.Context, cfg startConfig, out io.Writer) (err error) {
	fmt.Fprintf(out, "load average before: %s\n", loadAverage())
	storage, p, err := newServeProc(ctx, cfg.databaseURL, cfg.binary, cfg.src)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, storage.Close()) }()
	fmt.Fprintf(out, "start: coopnet serve on an existing %s database (set up by coopnet init), %d runs, idle %s before reading RSS\n",
		storage.dialect(), cfg.runs, cfg.idle)
	var runs []startRun
	for i := range cfg.runs {
		r, err := p.timeStart(ctx, cfg)
		if err != nil {
			return fmt.Errorf("run %d: %w\n%s", i+1, err, p.logTail())
		}
		fmt.Fprintf(out, "run %d: /healthz 200 after %s, /readyz 200 after %s, idle VmRSS %.1f MB (peak VmHWM %.1f MB)\n",
			i+1, ms(r.healthz), ms(r.readyz), r.rssMB, r.hwmMB)
		runs = append(runs, r)
	}
	reportStart(out, runs)
	return nil
}

// startRun is one timed start.
type startRun struct {
	healthz, readyz time.Duration
	rssMB, hwmMB    float64
}

func reportStart(out io.Writer, runs []startRun) {
	var h, r []time.Duration
	var rss, hwm []float64
	for _, run := range runs {
		h, r = append(h, run.healthz), append(r, run.readyz)
		rss, hwm = append(rss, run.rssMB), append(hwm, run.hwmMB)
	}
	fmt.Fprintf(out, "median of %d: /healthz %s, /readyz %s, idle VmRSS %.1f MB, VmHWM %.1f MB\n",
		len(runs), ms(median(h)), ms(median(r)), median(rss), median(hwm))
	fmt.Fprintf(out, "load average after: %s\n", loadAverage())
}

// newServeProc makes the benchmark's storage and a `coopnet serve` process
// set up over it (coopnet init), building the binary from src unless binary
// names one. The caller closes the storage.
func newServeProc(ctx context.Context, databaseURL, binary, src string) (*benchDB, *coopnetProc, error) {
	storage, err := newBenchStorage(ctx, databaseURL)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*benchDB, *coopnetProc, error) {
		return nil, nil, errors.Join(err, storage.Close())
	}
	bin := binary
	if bin == "" {
		if bin, err = buildCoopnet(ctx, src, storage.Dir); err != nil {
			return fail(err)
		}
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return fail(err)
	}
	p := &coopnetProc{bin: bin, addr: addr, dataDir: filepath.Join(storage.Dir, "data"), databaseURL: storage.URL, logDir: storage.Dir}
	if err := p.init(ctx); err != nil {
		return fail(err)
	}
	return storage, p, nil
}

// buildCoopnet builds ./cmd/coopnet of the module in src into dir.
func buildCoopnet(ctx context.Context, src, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "coopnet")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/coopnet")
	cmd.Dir = src
	if outErr, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/coopnet in %s: %w\n%s", src, err, outErr)
	}
	return bin, nil
}

// freeLoopbackAddr returns a port of 127.0.0.1 free at the time of the call.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// coopnetProc runs the coopnet binary on one database and address.
type coopnetProc struct {
	bin, addr, dataDir, databaseURL, logDir string
}

// baseURL is the node's URL, fixed by init.
func (p *coopnetProc) baseURL() string { return "http://" + p.addr }

// storageArgs are the flags naming the database.
func (p *coopnetProc) storageArgs() []string {
	args := []string{"--data-dir", p.dataDir, "--base-url", p.baseURL()}
	if p.databaseURL != "" {
		args = append(args, "--database-url", p.databaseURL)
	}
	return args
}

// command is the binary with args and an environment without the caller's
// COOPNET_ settings.
func (p *coopnetProc) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COOPNET_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// init runs `coopnet init`: the database and the node's coop.
func (p *coopnetProc) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	args := append([]string{"init", "--name", "Bench Workers", "--slug", "bench", "--admin-email", "ada@bench.example"}, p.storageArgs()...)
	cmd := p.command(ctx, args...)
	cmd.Env = append(cmd.Env, "COOPNET_ADMIN_PASSWORD=correct horse battery staple")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("coopnet init: %w\n%s", err, out)
	}
	return nil
}

// logPath is where the last `coopnet serve` logged.
func (p *coopnetProc) logPath() string { return filepath.Join(p.logDir, "serve.log") }

// logTail returns the end of the last `coopnet serve` log, for errors.
func (p *coopnetProc) logTail() string {
	b, err := os.ReadFile(p.logPath())
	if err != nil {
		return ""
	}
	return "coopnet serve logged:\n" + string(b[max(0, len(b)-2000):])
}

// timeStart starts `coopnet serve`, times it until /healthz and /readyz
// answer 200, reads its memory after cfg.idle and stops it.
func (p *coopnetProc) timeStart(ctx context.Context, cfg startConfig) (_ startRun, err error) {
	logFile, err := os.Create(p.logPath())
	if err != nil {
		return startRun{}, fmt.Errorf("serve log: %w", err)
	}
	defer logFile.Close()
	cmd := p.command(ctx, append([]string{"serve", "--listen", p.addr}, p.storageArgs()...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return startRun{}, fmt.Errorf("start coopnet serve: %w", err)
	}
	defer func() { err = errors.Join(err, stopProcess(cmd)) }()
	var r startRun
	deadline := start.Add(cfg.readyTimeout)
	if r.healthz, err = pollOK(ctx, p.baseURL()+"/healthz", start, deadline, cfg.poll); err != nil {
		return r, err
	}
	if r.readyz, err = pollOK(ctx, p.baseURL()+"/readyz", start, deadline, cfg.poll); err != nil {
		return r, err
	}
	if !sleep(ctx, cfg.idle) {
		return r, ctx.Err()
	}
	if r.rssMB, r.hwmMB, err = processMemory(cmd.Process.Pid); err != nil {
		return r, err
	}
	return r, nil
}

// pollOK requests url every interval until it answers 200, and returns the
// time since start. A request to a port that is listening but not yet
// served waits for the answer, so the time is the serving time, not the
// next poll's.
func pollOK(ctx context.Context, url string, start, deadline time.Time, interval time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: time.Until(deadline), Transport: &http.Transport{DisableKeepAlives: true}}
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("poll %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if !sleep(ctx, interval) {
			return 0, ctx.Err()
		}
	}
	return 0, fmt.Errorf("%s did not answer 200 within %s", url, deadline.Sub(start))
}

// processMemory reads VmRSS and VmHWM (peak RSS) of a process, in MB.
func processMemory(pid int) (rssMB, hwmMB float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rssMB = kb / 1024
		case "VmHWM:":
			hwmMB = kb / 1024
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read memory: %w", err)
	}
	if rssMB == 0 {
		return 0, 0, errors.New("read memory: no VmRSS in /proc status")
	}
	return rssMB, hwmMB, nil
}

// stopProcess sends SIGTERM and waits for the process to exit, killing it
// after 30 seconds.
func stopProcess(cmd *exec.Cmd) error {
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop coopnet serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("coopnet serve exited: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-exited
		return errors.New("coopnet serve did not stop within 30 s of SIGTERM: killed")
	}
}
