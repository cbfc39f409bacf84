package main

import (
	"bytes"
	"crypto/rsa"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopnet/coopnet/federation"
)

// sinks are the followers' servers: one HTTP server listening on many ports
// of 127.0.0.1, each port a host of its own for the node (its queue's
// per-host limits and its HTTP client's connection pools). A POST counts
// once its signature verifies with the coop's key and its body is the
// current run's Update (it carries the run's marker).
type sinks struct {
	URLs  []string
	srv   *http.Server
	keyID string
	pub   *rsa.PublicKey

	got, bad, stale atomic.Int64
	last            atomic.Int64 // UnixNano of the last counted POST

	mu     sync.Mutex
	marker []byte
	want   int64
	done   chan struct{}
	seen   map[string]bool // inboxes counted in this run: a resent POST counts once
}

// startSinks listens on hosts ports of 127.0.0.1.
func startSinks(hosts int, keyID string, pub *rsa.PublicKey) (*sinks, error) {
	s := &sinks{keyID: keyID, pub: pub}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	for range hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sinks: listen: %w", err)
		}
		s.URLs = append(s.URLs, "http://"+ln.Addr().String())
		go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	}
	return s, nil
}

// Close stops every listener.
func (s *sinks) Close() error { return s.srv.Close() }

// expect starts counting want POSTs carrying marker, and returns the
// channel closed when the last one is verified.
func (s *sinks) expect(want int, marker string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got.Store(0)
	s.marker, s.want, s.done = []byte(marker), int64(want), make(chan struct{})
	s.seen = make(map[string]bool, want)
	return s.done
}

// lastAt is when the last counted POST was verified.
func (s *sinks) lastAt() time.Time { return time.Unix(0, s.last.Load()) }

func (s *sinks) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if !s.verify(r, body) {
		s.bad.Add(1)
		http.Error(w, "signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	s.count(r.Host+r.URL.Path, body)
}

// verify checks the POST's signature (draft-cavage, digest, date) with the
// coop's key.
func (s *sinks) verify(r *http.Request, body []byte) bool {
	sig, err := federation.ParseRequestSignature(r, body, nil, time.Now())
	return err == nil && sig.KeyID == s.keyID && sig.Verify(s.pub) == nil
}

// count counts a verified POST of the current run to inbox, once per
// inbox, and closes the run's channel at the last one.
func (s *sinks) count(inbox string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.marker) == 0 || !bytes.Contains(body, s.marker) || s.seen[inbox] {
		s.stale.Add(1)
		return
	}
	s.seen[inbox] = true
	if s.got.Add(1) == s.want {
		s.last.Store(time.Now().UnixNano())
		close(s.done)
	}
}
