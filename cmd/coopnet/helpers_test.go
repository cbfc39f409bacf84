package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// env is a test's environment: tests never read the real one, so a developer's
// own COOPNET_* variables cannot change their outcome.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// result is what one run of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, e env, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	code := runWith(context.Background(), args, &app{stdout: &out, stderr: &errOut, getenv: e.get})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// syncBuffer is a bytes.Buffer that a running server may write to while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backend is a database the commands can run on.
type backend struct {
	name string
	// args returns the storage flags for a fresh, empty database.
	args func(t *testing.T) []string
}

func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string {
			u := testdb.PostgresURL(t)
			// A data dir too, which must stay unused: PostgreSQL needs none.
			return []string{"--database-url", testdb.WithSchema(t, u, testdb.NewSchema(t, u)), "--data-dir", filepath.Join(t.TempDir(), "unused")}
		}},
	}
}

// openStore opens the database that storage flags name, for checks from the
// test's side.
func openStore(t *testing.T, storageArgs []string) *directory.Store {
	t.Helper()
	var dataDir, dbURL string
	for i := 0; i+1 < len(storageArgs); i += 2 {
		switch storageArgs[i] {
		case "--data-dir":
			dataDir = storageArgs[i+1]
		case "--database-url":
			dbURL = storageArgs[i+1]
		}
	}
	d, err := db.Open(context.Background(), dbURL, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return directory.NewStore(d, 0)
}

const testPassword = "correct horse battery"

// initNode sets a node up with the coop alpha and its admin ada@alpha.example.
func initNode(t *testing.T, storageArgs []string, extra ...string) {
	t.Helper()
	args := append([]string{"init", "--name", "Alpha Tech Coop", "--slug", "alpha",
		"--admin-email", "ada@alpha.example", "--admin-name", "Ada"}, storageArgs...)
	r := runCmd(t, env{"COOPNET_ADMIN_PASSWORD": testPassword}, append(args, extra...)...)
	if r.code != 0 {
		t.Fatalf("init: exit %d: %s", r.code, r.stderr)
	}
}

// servedNode is a `coopnet serve` running in the test.
type servedNode struct {
	url    string // where it listens, http://127.0.0.1:PORT
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `coopnet serve` on a port the kernel picks and waits until
// /readyz answers 200. It fails the test if serve exits first.
func startServe(t *testing.T, e env, args ...string) *servedNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &servedNode{stderr: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() {
		n.done <- runWith(ctx, args, &app{stdout: &syncBuffer{}, stderr: n.stderr, getenv: e.get})
	}()
	t.Cleanup(func() { n.stop(t) })

	addr := n.waitListening(t)
	n.url = "http://" + addr
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(n.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by the deadline
	}
	t.Fatalf("serve: /readyz never answered 200; log:\n%s", n.stderr.String())
	return nil
}

// waitListening reads the address from the "coopnet is serving" log line.
func (n *servedNode) waitListening(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-n.done:
			n.done <- code
			t.Fatalf("serve exited with %d before listening: %s", code, n.stderr.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(n.stderr.String()))
		for sc.Scan() {
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "coopnet is serving" {
				return line.Listen
			}
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the deadline
	}
	t.Fatalf("serve never logged that it was serving: %s", n.stderr.String())
	return ""
}

// stop cancels serve's context, as SIGTERM does, and returns its exit code.
func (n *servedNode) stop(t *testing.T) int {
	t.Helper()
	n.cancel()
	select {
	case code := <-n.done:
		n.done <- code // later calls (the cleanup) see it too
		return code
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
		return -1
	}
}

func (n *servedNode) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(n.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
