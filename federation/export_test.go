package federation

import "time"

// SetRetryUnit shrinks the retry schedule's unit (one "second"), so that the
// multi-node tests in package federation_test see retries within seconds.
func SetRetryUnit(f *Federation, unit time.Duration) error {
	return f.queue.configure(func(s *queueSettings) {
		s.retryUnit = unit
		s.eagerGrace = time.Second
		s.fetchPoll = 20 * time.Millisecond
		s.peer.refreshEvery = 50 * time.Millisecond
		s.peer.threshold = 1000 // a restarted peer is not backed off as a whole here
	})
}
