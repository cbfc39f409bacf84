package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/directory/search"
	"github.com/coopnet/coopnet/directory/search/searchtest"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// The generated network must load as peers' coops and be searchable as the
// engine phase indexed it: same coops, same names.
func TestRemoteNetworkLoads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		docs := searchtest.Generate(7, 2*coopsPerPeer+5, 3)
		coops, services := remoteNetwork(docs)
		store := directory.NewStore(d, bcrypt.MinCost)
		if err := store.BulkLoadRemote(ctx, coops, services); err != nil {
			t.Fatalf("BulkLoadRemote: %v", err)
		}
		dir := directory.NewDirectory(store)
		if err := dir.Build(ctx); err != nil {
			t.Fatalf("Build: %v", err)
		}
		if got := len(dir.Listings()); got != len(docs) {
			t.Fatalf("%d coops listed, want %d", got, len(docs))
		}
		ix := search.New()
		for _, doc := range docs {
			if err := ix.Put(doc); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range searchtest.Queries(7, 20) {
			res, err := dir.Search(q)
			if err != nil {
				t.Fatalf("search %+v: %v", q, err)
			}
			engine, err := ix.Search(q)
			if err != nil {
				t.Fatal(err)
			}
			if want := engine.Total; res.Total != want {
				t.Errorf("search %q %v %v: %d coops through the database, %d in the engine", q.Text, q.Regions, q.Skills, res.Total, want)
			}
		}
	})
}

func TestIndexBuiltLine(t *testing.T) {
	tests := []struct{ name, log, want string }{
		{"node logger", `time=2026-11-26T06:00:00Z level=INFO msg="directory index built" docs=3 took=1.2s` + "\n",
			`"directory index built" docs=3 took=1.2s`},
		{"default logger", "2026/11/26 06:00:00 INFO directory index built docs=3 took=1.2s\n",
			`"directory index built" docs=3 took=1.2s`},
		{"none", "level=INFO msg=serving\n", `no "directory index built" line`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "serve.log")
			if err := os.WriteFile(path, []byte(tt.log), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := indexBuiltLine(path); got != tt.want {
				t.Errorf("indexBuiltLine = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := processCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("processCPU of no process: no error")
	}
}

// The open loop sends every request due in its time, or counts it unsent,
// and times each from its due time, never less than from its send.
func TestSearchOpenRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"total":0}`))
	}))
	defer srv.Close()
	clients := []*rawClient{{addr: srv.Listener.Addr().String()}, {addr: srv.Listener.Addr().String()},
		{addr: srv.Listener.Addr().String()}, {addr: srv.Listener.Addr().String()}}
	r := searchOpenRun(t.Context(), clients, []string{"/a", "/b"}, 400, 500*time.Millisecond)
	if got := len(r.latencies) + r.unsent + r.failed; got != 200 {
		t.Errorf("%d answered, %d unsent, %d failed: %d in all, want 200", len(r.latencies), r.unsent, r.failed, got)
	}
	if r.failed > 0 || len(r.sent) != len(r.latencies) {
		t.Fatalf("%d failed (%s); %d times from the send", r.failed, r.firstErr, len(r.sent))
	}
	for _, p := range []float64{50, 99, 100} {
		if percentile(r.latencies, p) < percentile(r.sent, p) {
			t.Errorf("p%.0f from the due time %s, below the one from the send %s", p,
				percentile(r.latencies, p), percentile(r.sent, p))
		}
	}
}

func TestRawClient(t *testing.T) {
	var mu sync.Mutex
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Method+" "+r.URL.RequestURI()+" "+r.Host)
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Length", "100000")
			_, _ = w.Write([]byte(strings.Repeat("x", 100_000)))
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = w.Write([]byte("bye"))
		case "/chunked":
			_, _ = w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte("b"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	c := &rawClient{addr: addr}
	defer c.close()
	for _, tc := range []struct {
		target string
		n      int64
		err    string
	}{
		{"/ok?q=a+b", 100_000, ""},
		{"/ok", 100_000, ""},
		{"/missing", 19, "status 404"},
		{"/close", 3, ""},
		{"/ok", 100_000, ""},
		{"/chunked", 2, ""},
		{"/ok", 100_000, ""},
	} {
		n, err := c.get(tc.target)
		if n != tc.n || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("get %s: %d bytes, %v; want %d, %q", tc.target, n, err, tc.n, tc.err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if requests[0] != "GET /ok?q=a+b "+addr {
		t.Errorf("first request %q", requests[0])
	}
}
