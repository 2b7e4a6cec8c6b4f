package callbacktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// Concluded is a dispatcher Observer (and QueueObserver) that records
// every request whose attempt was written, and wakes whoever waits for
// one. It never blocks the dispatcher.
type Concluded struct {
	mu    sync.Mutex
	reqs  []*callback.Request
	outs  []callback.Outcome
	event chan struct{} // closed at the next conclusion, then replaced
}

// NewConcluded returns an empty Concluded.
func NewConcluded() *Concluded { return &Concluded{event: make(chan struct{})} }

// Dispatched implements callback.Observer; it records nothing.
func (c *Concluded) Dispatched(*callback.Request, time.Duration) {}

// Concluded implements callback.Observer.
func (c *Concluded) Concluded(r *callback.Request, out callback.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, r)
	c.outs = append(c.outs, out)
	c.wake()
}

// InvalidRow implements callback.QueueObserver: a row finished Invalid
// request by a claim or the rescuer also ends a wait.
func (c *Concluded) InvalidRow(callback.InvalidRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wake()
}

// ClaimFailed implements callback.QueueObserver.
func (c *Concluded) ClaimFailed(error) {}

func (c *Concluded) wake() {
	close(c.event)
	c.event = make(chan struct{})
}

// next returns a channel closed at the next conclusion.
func (c *Concluded) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.event
}

// Requests returns the requests concluded so far, in order.
func (c *Concluded) Requests() []*callback.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*callback.Request(nil), c.reqs...)
}

// Outcome returns the Dialer's outcome of request id's last concluded
// attempt.
func (c *Concluded) Outcome(id int64) (callback.Outcome, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.reqs) - 1; i >= 0; i-- {
		if c.reqs[i].ID == id {
			return c.outs[i], true
		}
	}
	return callback.Outcome{}, false
}

// Timeout bounds every wait of this package.
const Timeout = 30 * time.Second

// recheck is how often a wait reads the row again when no event came: a
// request may also finish without an attempt (a cancel, Expired, the
// rescuer), which the Observer does not hear of.
const recheck = 250 * time.Millisecond

// WaitFinished returns request id once its row is finished, reading it
// again at every conclusion (or, for ends the dispatcher does not
// announce, every quarter of a second); the test fails after Timeout.
func (c *Concluded) WaitFinished(t testing.TB, st callback.Store, id int64) *callback.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	for {
		ev := c.next() // before the read, so that no conclusion is missed
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			t.Fatalf("request %d: %v", id, err)
		}
		if r.Finished {
			return r
		}
		select {
		case <-ev:
		case <-time.After(recheck):
		case <-ctx.Done():
			t.Fatalf("request %d not finished after %s: status %q", id, Timeout, r.Status)
		}
	}
}

// WaitConcluded waits until n attempts have been concluded in all and
// returns them; the test fails after Timeout.
func (c *Concluded) WaitConcluded(t testing.TB, n int) []*callback.Request {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		ev := c.next()
		if got := c.Requests(); len(got) >= n {
			return got
		}
		select {
		case <-ev:
		case <-deadline:
			t.Fatalf("%d attempts concluded after %s, want %d", len(c.Requests()), Timeout, n)
		}
	}
}
