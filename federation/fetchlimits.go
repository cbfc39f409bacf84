package federation

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits and classification of the background fetches (freshness.go,
// discovery.go): what a failed fetch says about its host, and how often a
// host may be fetched from.

// hostDown reports whether a fetch failed for the whole host (a network
// error, a timeout, 5xx, 408, 429) rather than for the one document.
func hostDown(err error) bool {
	switch s := statusOf(err); {
	case s == 0:
		return !errors.Is(err, ErrNotActor)
	case s >= 500, s == http.StatusRequestTimeout, s == http.StatusTooManyRequests:
		return true
	}
	return false
}

// httpStatus is the status of a fetch answered otherwise than 200, kept in
// the error (fetchSigned) so that callers tell a refusal from a failure.
type httpStatus int

func (s httpStatus) Error() string { return "status " + strconv.Itoa(int(s)) }

// statusOf returns the HTTP status in err, or 0.
func statusOf(err error) int {
	var s httpStatus
	if errors.As(err, &s) {
		return int(s)
	}
	return 0
}

// backedOff reports whether deliveries to host are being held back after
// repeated failures (peers.go), as this process last read it.
func (b *peerBook) backedOff(host string) bool {
	b.mu.Lock()
	st, ok := b.failing[host]
	b.mu.Unlock()
	return ok && st.failures >= b.set.threshold && b.now().Before(st.until)
}

// hostRate allows at most n fetches to one host in any minute, in this
// process: the refresh and discovery are background work, and must not
// look like a crawl to a small server.
type hostRate struct {
	n   int
	now func() time.Time

	mu    sync.Mutex
	spent map[string][]time.Time
}

func newHostRate(n int, now func() time.Time) *hostRate {
	return &hostRate{n: n, now: now, spent: map[string][]time.Time{}}
}

// take spends k fetches to host, or reports false and spends nothing when
// the host's minute is full.
func (h *hostRate) take(host string, k int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	cut := now.Add(-time.Minute)
	if len(h.spent) > 1000 {
		for other, ts := range h.spent {
			if len(ts) == 0 || !ts[len(ts)-1].After(cut) {
				delete(h.spent, other)
			}
		}
	}
	ts := h.spent[host]
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	ts = ts[i:]
	if len(ts)+k > h.n {
		h.spent[host] = ts
		return false
	}
	for range k {
		ts = append(ts, now)
	}
	h.spent[host] = ts
	return true
}
