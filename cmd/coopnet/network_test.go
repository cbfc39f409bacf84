package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freePorts returns n ports on 127.0.0.1 that were free a moment ago. The
// base URL of a node is fixed before it listens, so the test picks the port.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// waitFor checks cond every 50 ms for at most 20 s: deliveries between nodes
// are asynchronous, and this awaits their effect.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The follow commands against two real `coopnet serve` nodes on loopback.
func TestFollowCommands(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ports := freePorts(t, 2)
			var storage [2][]string
			for i, p := range ports {
				base := fmt.Sprintf("http://127.0.0.1:%d", p)
				storage[i] = append(b.args(t), "--base-url", base)
				initNode(t, storage[i])
				startServe(t, env{}, append(storage[i], "--listen", fmt.Sprintf("127.0.0.1:%d", p), "--allow-private-addresses", "true")...)
			}
			peer := fmt.Sprintf("alpha@127.0.0.1:%d", ports[1])
			r := runCmd(t, env{}, append([]string{"follow", "--slug", "alpha", peer, "--allow-private-addresses", "true"}, storage[0]...)...)
			if r.code != 0 {
				t.Fatalf("follow: exit %d: %s", r.code, r.stderr)
			}
			waitFor(t, "the peer accepts", func() bool {
				r := runCmd(t, env{}, append([]string{"following", "--slug", "alpha"}, storage[0]...)...)
				return r.code == 0 && strings.HasPrefix(r.stdout, "accepted") && strings.Contains(r.stdout, peer)
			})
			r = runCmd(t, env{}, append([]string{"followers", "--slug", "alpha"}, storage[1]...)...)
			if want := fmt.Sprintf("http://127.0.0.1:%d/coops/alpha", ports[0]); r.code != 0 || !strings.Contains(r.stdout, want) || !strings.HasPrefix(r.stdout, "accepted") {
				t.Fatalf("followers of the peer: exit %d, %q; want %s accepted", r.code, r.stdout, want)
			}

			for _, bad := range [][]string{
				{"follow", "--slug", "alpha"},
				{"follow", "--slug", "alpha", "a@b", "c@d"},
				{"follow", "--slug", "nobody", peer},
				{"follow", "--slug", "alpha", fmt.Sprintf("alpha@127.0.0.1:%d", ports[0])},
				{"followers"},
			} {
				r := runCmd(t, env{}, append(bad, storage[0]...)...)
				if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
					t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", bad, r.code, r.stderr)
				}
			}
		})
	}
}

// `coopnet demo`: three nodes whose coops follow each other and learn each
// other's profiles.
func TestDemo(t *testing.T) {
	ports := freePorts(t, 3)
	var list []string
	for _, p := range ports {
		list = append(list, fmt.Sprint(p))
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runWith(ctx, []string{"demo", "--ports", strings.Join(list, ",")}, &app{stdout: out, stderr: &syncBuffer{}, getenv: env{}.get})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("demo exited with %d", code)
		}
	}()
	waitFor(t, "the demo prints its nodes", func() bool { return strings.Contains(out.String(), "press Ctrl-C") })
	for i, slug := range []string{"alpha", "beta", "gamma"} {
		line := fmt.Sprintf("http://127.0.0.1:%d  %s@127.0.0.1:%d", ports[i], slug, ports[i])
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i, slug := range []string{"alpha", "beta", "gamma"} {
		u := fmt.Sprintf("http://127.0.0.1:%d/coops/%s/following", ports[i], slug)
		waitFor(t, slug+" follows the two others", func() bool {
			resp, err := client.Get(u)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var c struct{ TotalItems int }
			return json.NewDecoder(resp.Body).Decode(&c) == nil && c.TotalItems == 2
		})
	}
	waitFor(t, "alpha's node lists the peers' coops", func() bool {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0]))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		page, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(page), "Beta Data Collective") && strings.Contains(string(page), "Gamma Hosting Co-op")
	})
}
