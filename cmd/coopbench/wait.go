package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errTimeout is returned when a bounded wait runs out.
var errTimeout = errors.New("timed out")

// await polls cond every few milliseconds until it holds, ctx ends or limit
// passes.
func await(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting until %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting until %s: %w after %s", what, errTimeout, limit)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sleep waits d unless ctx ends first, which it reports as false.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
