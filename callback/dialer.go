package callback

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer places the legs of a callback. The ARI controller implements it.
//
// Dial owns the call until it returns: it reports progress through the Attempt
// (each report is a guarded store update), and returns an Outcome. ctx is
// canceled with context.Cause ErrCanceled when the request was canceled
// from outside, or ErrLeaseLost when this node lost the request: in both
// cases the Dialer hangs up every leg it placed and returns.
type Dialer interface {
	// WaitReady blocks until calls can be placed (Asterisk connected and
	// reconciled) or ctx is done.
	WaitReady(ctx context.Context) error
	Dial(ctx context.Context, call *Attempt) Outcome
}

// ErrCanceled is the context cause of a call whose request was canceled.
var ErrCanceled = errorString("canceled from outside")

type errorString string

func (e errorString) Error() string { return string(e) }

// Outcome is how a callback attempt ended.
type Outcome struct {
	// Result is the final result when the callback is over (Successful,
	// First leg aborted, Second leg failed, Canceled). ResultNone means the
	// first leg was not answered: the dispatcher applies the retry policy.
	Result Result
	Cause  Cause // why the failing leg ended
	// SIPCode is the SIP response of the failing leg when known; 0 lets the
	// dispatcher derive it from Cause.
	SIPCode int
	Reason  string // human text for last_error
	// Err is set when the attempt never reached Asterisk (no connection,
	// REST error before the originate was accepted). The request goes back
	// to the queue without counting an attempt.
	Err error
}

// Attempt is one claimed attempt handed to a Dialer.
type Attempt struct {
	// Request is the row as claimed; Status is kept current as the call
	// advances.
	Request Request
	// AnswerTimeout is the seed's "Timeout" (time to wait for answer).
	AnswerTimeout time.Duration

	mu      sync.Mutex
	lease   Lease
	queue   Queue
	now     func() time.Time
	onEvent func(Status)

	leaseUntil atomic.Int64 // unix nanoseconds; 0: not known
}

// LeaseUntil is when the call's lease ends unless renewed again: the
// claim's expiry, moved on by every renewal that succeeded. Zero when the
// call runs outside a dispatcher. A Dialer that waits through a store
// outage does so only until then: past it, another node may take the
// request back.
func (c *Attempt) LeaseUntil() time.Time {
	if n := c.leaseUntil.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (c *Attempt) setLeaseUntil(t time.Time) {
	if !t.IsZero() {
		c.leaseUntil.Store(t.UnixNano())
	}
}

// Lease returns the lease the call runs under.
func (c *Attempt) Lease() Lease { return c.lease }

// Status returns the request's current status.
func (c *Attempt) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Request.Status
}

func (c *Attempt) advance(ctx context.Context, ch Change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch.From = c.Request.Status
	r, err := c.queue.Update(ctx, c.lease, ch)
	if err != nil {
		return err
	}
	c.Request = *r
	if c.onEvent != nil {
		c.onEvent(r.Status)
	}
	return nil
}

// FirstLegInitiated records that leg A is about to be originated with
// channel id callID: status First leg initiated, call_count+1, setup_time.
// The Dialer calls it before the originate, so that a crash between the two
// is seen as a dialled attempt and never as a request not yet tried.
func (c *Attempt) FirstLegInitiated(ctx context.Context, callID string) error {
	return c.advance(ctx, Change{To: StatusFirstLegInitiated, CallID: callID, CountCall: true, SetupTime: c.now()})
}

// FirstLegConnected records that leg A answered: connect_time.
func (c *Attempt) FirstLegConnected(ctx context.Context) error {
	return c.advance(ctx, Change{To: StatusFirstLegConnected, ConnectTime: c.now()})
}

// SecondLegInitiated records that leg B is being dialled.
func (c *Attempt) SecondLegInitiated(ctx context.Context, twowayCallID string) error {
	return c.advance(ctx, Change{To: StatusSecondLegInitiated, TwowayCallID: twowayCallID})
}

// SecondLegConnected records that leg B answered and the legs are bridged.
func (c *Attempt) SecondLegConnected(ctx context.Context) error {
	return c.advance(ctx, Change{To: StatusSecondLegConnected})
}

// Noter is a Queue that can append a line to a request's history without
// changing the request, guarded by the lease like Update. Both stores
// implement it.
type Noter interface {
	Note(ctx context.Context, l Lease, cause, sipCode int, note string) error
}

// Note appends a line to the request's history, in its current status,
// without changing it: what happened within a step, such as a leg tried
// again on another trunk. A Queue that is no Noter records nothing.
func (c *Attempt) Note(ctx context.Context, cause, sipCode int, note string) error {
	n, ok := c.queue.(Noter)
	if !ok {
		return nil
	}
	return n.Note(ctx, c.lease, cause, sipCode, note)
}

// NewAttempt builds an Attempt for code outside the dispatcher that drives a
// claimed request itself (tests, the demo).
func NewAttempt(q Queue, l Lease, r Request, answerTimeout time.Duration, now func() time.Time) *Attempt {
	if now == nil {
		now = time.Now
	}
	c := &Attempt{Request: r, AnswerTimeout: answerTimeout, lease: l, queue: q, now: now}
	c.setLeaseUntil(r.LeaseExpires)
	return c
}
