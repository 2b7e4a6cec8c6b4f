package ari

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSlotsServeCallsUnderWayFirst: with every place taken, a request of a
// call under way that queued after an originate gets the next place.
func TestSlotsServeCallsUnderWayFirst(t *testing.T) {
	sl := newSlots(1)
	ctx := context.Background()
	if err := sl.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	wait := func(name string, low bool) {
		if err := sl.acquire(ctx, low); err != nil {
			t.Error(err)
		}
		order <- name
		sl.release()
	}
	go wait("originate", true)
	waitQueued(t, sl, 0, 1)
	go wait("bridge", false)
	waitQueued(t, sl, 1, 1)
	sl.release()
	if first, second := <-order, <-order; first != "bridge" || second != "originate" {
		t.Fatalf("served %s then %s; want the bridge of the answered call first", first, second)
	}
	if err := sl.acquire(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// TestSlotsWaitEnds: a wait that ends leaves no place taken.
func TestSlotsWaitEnds(t *testing.T) {
	sl := newSlots(1)
	if err := sl.acquire(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sl.acquire(ctx, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
	sl.release()
	if sl.free != 1 || len(sl.high)+len(sl.low) != 0 {
		t.Fatalf("free %d, waiting %d/%d after every wait ended", sl.free, len(sl.high), len(sl.low))
	}
}

// waitQueued waits until high and low requests are queued.
func waitQueued(t *testing.T, sl *slots, high, low int) {
	t.Helper()
	for range 10000 {
		sl.mu.Lock()
		ok := len(sl.high) == high && len(sl.low) == low
		sl.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("waited in vain for %d+%d queued requests", high, low)
}
