package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TokenTaker is a store that keeps shared token buckets (rate_limits).
type TokenTaker interface {
	TakeToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (bool, error)
	PeekToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (token, full bool, err error)
}

// RunSharedLimits checks that two stores on one database (two nodes) share
// one bucket per limit and key: a burst of 3 is 3 over both, a refused
// call takes nothing, the bucket refills one token per interval, and keys
// and limits are counted apart. A peek (failed logins) sees what the
// other node took and takes nothing.
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
	runSharedRace(t, a, b)
	runSharedPeek(t, a, b)
}

// runSharedRace has both nodes race for the tokens of a new bucket and of
// one that exists: the burst is given out once over the two, whichever
// node creates the row.
func runSharedRace(t *testing.T, a, b TokenTaker) {
	t.Helper()
	const every, burst, callers = time.Minute, 5, 16
	const key = "4930333"
	// The first round creates the row; by the second its bucket is full
	// again, the row still there.
	for _, now := range []time.Time{base.Add(time.Hour), base.Add(time.Hour + burst*every)} {
		results := make(chan error, callers)
		var mu sync.Mutex
		allowed := 0
		for i := range callers {
			s := []TokenTaker{a, b}[i%2]
			go func() {
				ok, err := s.TakeToken(context.WithoutCancel(t.Context()), "trigger.cli", key, every, burst, now)
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				results <- err
			}()
		}
		for range callers {
			if err := <-results; err != nil {
				t.Errorf("take token racing: %v", err)
			}
		}
		if allowed != burst {
			t.Fatalf("%d callers racing on two nodes took %d tokens, want the burst of %d", callers, allowed, burst)
		}
	}
}

// runSharedPeek checks PeekToken against TakeToken across two nodes.
func runSharedPeek(t *testing.T, a, b TokenTaker) {
	t.Helper()
	const every = time.Minute
	peek := func(s TokenTaker, key string, now time.Time) string {
		t.Helper()
		token, full, err := s.PeekToken(t.Context(), "auth.pair", key, every, 2, now)
		if err != nil {
			t.Fatalf("peek token %s: %v", key, err)
		}
		return fmt.Sprintf("token=%v full=%v", token, full)
	}
	now := base
	if got := peek(b, "801\x00192.0.2.1", now); got != "token=true full=true" {
		t.Fatalf("a bucket never taken from: %s", got)
	}
	long := strings.Repeat("x", 300) // hashed to fit the key column
	for _, key := range []string{"801\x00192.0.2.1", long} {
		if ok, err := a.TakeToken(t.Context(), "auth.pair", key, every, 2, now); err != nil || !ok {
			t.Fatalf("take token: %v, %v", ok, err)
		}
		if got := peek(b, key, now); got != "token=true full=false" {
			t.Fatalf("one of 2 taken on the other node: %s", got)
		}
	}
	for range 3 { // peeks take nothing
		peek(b, "801\x00192.0.2.1", now)
	}
	if ok, err := a.TakeToken(t.Context(), "auth.pair", "801\x00192.0.2.1", every, 2, now); err != nil || !ok {
		t.Fatalf("second token after peeks: %v, %v", ok, err)
	}
	if got := peek(b, "801\x00192.0.2.1", now); got != "token=false full=false" {
		t.Fatalf("both taken on the other node: %s", got)
	}
	if got := peek(b, "801\x00192.0.2.1", now.Add(every)); got != "token=true full=false" {
		t.Fatalf("one interval later: %s", got)
	}
	if got := peek(a, "801\x00192.0.2.1", now.Add(2*every)); got != "token=true full=true" {
		t.Fatalf("two intervals later: %s", got)
	}
	if token, full, err := a.PeekToken(t.Context(), "off", "k", 0, 1, now); err != nil || !token || !full {
		t.Fatalf("peek of a limit with no interval: %v, %v, %v", token, full, err)
	}
}
