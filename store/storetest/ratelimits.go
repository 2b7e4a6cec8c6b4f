package storetest

import (
	"context"
	"testing"
	"time"
)

// TokenTaker is a store that keeps shared token buckets (rate_limits).
type TokenTaker interface {
	TakeToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (bool, error)
}

// RunSharedLimits checks that two stores on one database (two nodes) share
// one bucket per limit and key: a burst of 3 is 3 over both, a refused
// call takes nothing, the bucket refills one token per interval, and keys
// and limits are counted apart.
func RunSharedLimits(t *testing.T, a, b TokenTaker) {
	t.Helper()
	const every = time.Minute
	take := func(s TokenTaker, name, key string, now time.Time) bool {
		t.Helper()
		ok, err := s.TakeToken(t.Context(), name, key, every, 3, now)
		if err != nil {
			t.Fatalf("take token %s/%s: %v", name, key, err)
		}
		return ok
	}
	now := base
	for i, s := range []TokenTaker{a, b, a} {
		if !take(s, "trigger.cli", "4930111", now) {
			t.Fatalf("token %d of a burst of 3 refused", i+1)
		}
	}
	for _, s := range []TokenTaker{b, a, b} {
		if take(s, "trigger.cli", "4930111", now.Add(time.Second)) {
			t.Fatal("a fourth token within the burst's minute, on one of two nodes: the nodes count alone")
		}
	}
	if !take(b, "trigger.cli", "4930222", now) || !take(a, "trigger.account", "4930111", now) {
		t.Fatal("another key or another limit shares the exhausted bucket")
	}
	// One interval later, one token is back (refused calls took none).
	if !take(b, "trigger.cli", "4930111", now.Add(every)) {
		t.Fatal("no token one interval later")
	}
	if take(a, "trigger.cli", "4930111", now.Add(every)) {
		t.Fatal("two tokens one interval later")
	}
	// Idle for the whole refill (3 intervals): a full burst again.
	later := now.Add(10 * every)
	for i := range 3 {
		if !take([]TokenTaker{a, b}[i%2], "trigger.cli", "4930111", later) {
			t.Fatalf("token %d of the refilled burst refused", i+1)
		}
	}
	if take(b, "trigger.cli", "4930111", later) {
		t.Fatal("a fourth token in the refilled burst")
	}
	// A zero interval is no limit.
	for range 10 {
		if ok, err := a.TakeToken(t.Context(), "off", "k", 0, 1, now); err != nil || !ok {
			t.Fatalf("limit with no interval: %v, %v", ok, err)
		}
	}
}
