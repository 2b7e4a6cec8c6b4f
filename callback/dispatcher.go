package callback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Observer receives what the dispatcher does, for metrics. Methods must not
// block.
type Observer interface {
	// Dispatched is called just before Dial, with how late the call is
	// against the request's next_call.
	Dispatched(r *Request, lateness time.Duration)
	// Concluded is called after an attempt's outcome is written.
	Concluded(r *Request, out Outcome)
}

// QueueObserver is what an Observer may also implement to be told of the
// queue's own troubles. Methods must not block.
type QueueObserver interface {
	// InvalidRow is called for each row a claim or the rescuer's sweep
	// finished Invalid request (or skipped: row.Err) because it can never
	// be read or dialled.
	InvalidRow(row InvalidRow)
	// ClaimFailed is called for each claim that failed as a whole.
	ClaimFailed(err error)
}

// DispatcherOptions configures a Dispatcher.
type DispatcherOptions struct {
	Store  Store
	Dialer Dialer // nil: requests wait; WaitingFor says for what
	Policy Policy
	// Node names this process among those sharing the database (default:
	// the host name). Leases are owned by "<node>/<boot id>", so a node that
	// restarts takes back its own leases at once instead of waiting for them
	// to expire.
	Node string
	// WaitingFor is logged when there is no Dialer, e.g. the ARI URL.
	WaitingFor string
	Logger     *slog.Logger
	Observer   Observer
	Now        func() time.Time
}

// Dispatcher fires requests at their next_call: it sleeps until the
// earliest due row, wakes at once when this process inserts one, and polls
// with jitter for rows inserted by other SQL clients. It claims due rows
// under a lease, hands each to the Dialer within the global limit and the
// account's Max Sessions, and applies the retry policy to the outcome.
type Dispatcher struct {
	store      Store
	dialer     Dialer
	policy     Policy
	node       string
	owner      string
	waitingFor string
	log        *slog.Logger
	obs        Observer
	now        func() time.Time

	wake  chan struct{}
	freed chan struct{}

	mu   sync.Mutex
	live map[int64]*liveCall
	// While Run runs: the context calls run under and the group Run waits
	// for, so that Start can add a call; nil callCtx: not running.
	callCtx context.Context
	calls   *sync.WaitGroup
	started chan struct{} // closed when Run begins
	ended   bool          // Run has returned or is stopping

	sessMu   sync.Mutex     // serialises Max Sessions checks on this node
	starting map[string]int // per payer: calls past the check, not yet dialled

	claimMu     sync.Mutex
	claimErr    error     // the latest claim's error; nil after a claim that worked
	claimErrAt  time.Time // when claims began to fail
	claimErrors int       // claims failed in a row
}

type liveCall struct {
	lease  Lease
	cancel context.CancelCauseFunc
	// settling is set before the call's last write (its outcome, or its
	// release to the queue), which gives the lease up: a renewal that
	// then finds the lease gone is not a loss.
	settling atomic.Bool
	call     *Attempt // once handed to the Dialer; guarded by Dispatcher.mu
}

// NewDispatcher checks the options and builds a Dispatcher.
func NewDispatcher(o DispatcherOptions) (*Dispatcher, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("new dispatcher: no store: %w", ErrInvalid)
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("new dispatcher: %w", err)
	}
	if o.Node == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "callbackd"
		}
		o.Node = h
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	boot := make([]byte, 4)
	if _, err := rand.Read(boot); err != nil {
		return nil, fmt.Errorf("new dispatcher: boot id: %w", err)
	}
	d := &Dispatcher{
		store:      o.Store,
		dialer:     o.Dialer,
		policy:     o.Policy,
		node:       o.Node,
		owner:      o.Node + "/" + hex.EncodeToString(boot),
		waitingFor: o.WaitingFor,
		log:        o.Logger.With("component", "dispatcher"),
		obs:        o.Observer,
		now:        o.Now,
		wake:       make(chan struct{}, 1),
		freed:      make(chan struct{}, 1),
		live:       make(map[int64]*liveCall),
		starting:   make(map[string]int),
		started:    make(chan struct{}),
	}
	return d, nil
}

// Owner is the lease owner string of this process.
func (d *Dispatcher) Owner() string { return d.owner }

// Notify wakes the dispatcher: a request was inserted by this process.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Live returns how many calls this dispatcher is running.
func (d *Dispatcher) Live() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}

// Run dispatches until ctx is done, then stops claiming, lets live calls run
// for the ShutdownGrace, cancels the rest, writes their outcomes and returns.
// Claimed rows are never dropped: each ends in a new status or is released.
func (d *Dispatcher) Run(ctx context.Context) error {
	// Calls outlive ctx by the grace period, so a SIGTERM does not cut
	// conversations that are about to end anyway.
	callCtx, cancelCalls := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelCalls(nil)
	houseCtx, stopHouse := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHouse()

	var wg sync.WaitGroup
	d.mu.Lock()
	d.callCtx, d.calls = callCtx, &wg
	close(d.started)
	d.mu.Unlock()

	d.log.Info("dispatcher started", "owner", d.owner, "scan_interval", d.policy.ScanInterval,
		"max_live_calls", d.policy.MaxLiveCalls, "max_attempts", d.policy.MaxAttempts,
		"backoff", d.policy.BackoffInterval, "answer_timeout", d.policy.Timeout)
	if n, err := d.store.Rescue(ctx, d.rescueParams(true)); err != nil {
		d.log.Error("startup rescue failed; expired leases will be rescued later", "err", err)
	} else if n > 0 {
		d.log.Info("took back requests held before a restart", "count", n)
	}

	houseDone := make(chan struct{})
	go func() {
		defer close(houseDone)
		d.housekeeping(houseCtx)
	}()
	d.loop(ctx, callCtx, &wg)
	d.mu.Lock()
	d.callCtx, d.calls, d.ended = nil, nil, true // Start refuses from here on, so wg.Add cannot race wg.Wait
	d.mu.Unlock()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if n := d.Live(); n > 0 {
		d.log.Info("stopping: waiting for live calls", "live", n, "grace", d.policy.ShutdownGrace)
	}
	select {
	case <-done:
	case <-time.After(d.policy.ShutdownGrace):
		d.log.Warn("stopping: grace period over, hanging up live calls", "live", d.Live())
		cancelCalls(errShutdown)
		<-done
	}
	stopHouse()
	<-houseDone
	d.log.Info("dispatcher stopped")
	return nil
}

var errShutdown = errors.New("callbackd is shutting down")

func (d *Dispatcher) rescueParams(startup bool) RescueParams {
	p := RescueParams{Now: d.now(), MaxAttempts: d.policy.MaxAttempts, Backoff: d.policy.BackoffInterval, Self: d.owner,
		OnInvalid: d.invalidRow}
	if startup {
		p.StaleOwnerPrefix = d.node + "/"
	}
	return p
}

// claimBatch bounds one claim so a burst of due rows is spread over several
// short transactions instead of one long one.
const claimBatch = 64

func (d *Dispatcher) loop(ctx, callCtx context.Context, wg *sync.WaitGroup) {
	storeDown := false
	for ctx.Err() == nil {
		if err := d.waitDialer(ctx); err != nil {
			return
		}
		free := d.policy.MaxLiveCalls - d.Live()
		if free > 0 {
			reqs, err := d.store.Claim(ctx, ClaimParams{Owner: d.owner, Now: d.now(), Limit: min(free, claimBatch),
				LeaseFor: d.policy.Lease, OnInvalid: d.invalidRow})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				d.claimFailed(err)
				if !storeDown {
					d.log.Error("claim failed: retrying every scan interval; /readyz reports the queue not ready meanwhile", "err", err)
					storeDown = true
				}
				d.sleep(ctx, jitter(d.policy.ScanInterval))
				continue
			}
			d.claimWorked()
			if storeDown {
				d.log.Info("claims work again: dispatching")
				storeDown = false
			}
			for _, r := range reqs {
				d.start(callCtx, wg, r)
			}
			if len(reqs) == min(free, claimBatch) {
				continue // more may be due now
			}
		}
		d.sleepUntilDue(ctx, free > 0)
	}
}

// invalidRow reports a row the store could not use (see InvalidRow): an
// ERROR line with its id, so an operator can look at it, and the counter.
func (d *Dispatcher) invalidRow(row InvalidRow) {
	if row.Err != nil {
		d.log.Error("unreadable request skipped: it could not be finished Invalid request either; claims pass over it for a while",
			"request_id", row.ID, "reason", row.Reason, "err", row.Err)
	} else {
		d.log.Error("unreadable request finished Invalid request", "request_id", row.ID, "reason", row.Reason)
	}
	if o, ok := d.obs.(QueueObserver); ok {
		o.InvalidRow(row)
	}
}

func (d *Dispatcher) claimFailed(err error) {
	d.claimMu.Lock()
	if d.claimErrors == 0 {
		d.claimErrAt = d.now()
	}
	d.claimErr = err
	d.claimErrors++
	d.claimMu.Unlock()
	if o, ok := d.obs.(QueueObserver); ok {
		o.ClaimFailed(err)
	}
}

func (d *Dispatcher) claimWorked() {
	d.claimMu.Lock()
	d.claimErr, d.claimErrors = nil, 0
	d.claimMu.Unlock()
}

// QueueReady is the "queue" check of /readyz: an error while claims keep
// failing (since the latest claim failed, until one works again), nil
// otherwise. ctx is not used: the answer is what the dispatcher last saw.
func (d *Dispatcher) QueueReady(context.Context) error {
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	if d.claimErr == nil {
		return nil
	}
	return fmt.Errorf("%d claims failed in a row since %s: %w", d.claimErrors, d.claimErrAt.UTC().Format(time.RFC3339), d.claimErr)
}

func (d *Dispatcher) sleepUntilDue(ctx context.Context, canClaim bool) {
	wait := jitter(d.policy.ScanInterval)
	if canClaim {
		next, ok, err := d.store.NextDue(ctx)
		if err == nil && ok {
			if until := next.Sub(d.now()); until < wait {
				wait = max(until, 0)
			}
		}
	}
	if wait == 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-d.wake:
	case <-d.freed:
	}
}

func (d *Dispatcher) sleep(ctx context.Context, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// jitter returns a duration between 80% and 100% of d, so that nodes
// polling one database spread out and a row inserted by another SQL client
// is still found within the Scan Interval.
func jitter(d time.Duration) time.Duration {
	span := int64(d) / 5
	if span <= 0 {
		return d
	}
	return d - time.Duration(mrand.Int64N(span+1))
}

func (d *Dispatcher) waitDialer(ctx context.Context) error {
	if d.dialer == nil {
		d.log.Warn("no Asterisk connection configured: requests are queued and wait for it; nothing is marked failed",
			"waiting_for", d.waitingFor)
		<-ctx.Done()
		return ctx.Err()
	}
	return d.dialer.WaitReady(ctx)
}

func (d *Dispatcher) start(callCtx context.Context, wg *sync.WaitGroup, r *Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.startLocked(callCtx, wg, r, func(ctx context.Context, lease Lease) {
		// handle's frame is gone before the call starts: a live call's
		// goroutine keeps only what the call itself needs on its stack.
		log, starting, ok := d.handle(ctx, lease, r)
		if !ok {
			return
		}
		defer starting()
		d.dial(ctx, log, lease, r, starting)
	})
}

// startLocked runs fn as the call of r in a goroutine of its own, counted
// as live; d.mu is held.
func (d *Dispatcher) startLocked(callCtx context.Context, wg *sync.WaitGroup, r *Request, fn func(context.Context, Lease)) {
	ctx, cancel := context.WithCancelCause(callCtx)
	lc := &liveCall{lease: Lease{RequestID: r.ID, Attempt: r.Attempt, Owner: d.owner}, cancel: cancel}
	d.live[r.ID] = lc
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			cancel(nil)
			d.mu.Lock()
			delete(d.live, r.ID)
			d.mu.Unlock()
			select {
			case d.freed <- struct{}{}:
			default:
			}
		}()
		fn(ctx, lc.lease)
	}()
}

// Start runs r on this node now, outside the queue. It is for a caller who
// is on the line (an access number's IVR on the inbound call): waiting for
// the next claim, or another node claiming the row, would leave the caller
// in silence. The same checks as for a claimed request come first, and
// their refusals are returned with nothing inserted: a *ValidationError
// (the request cannot be run, the account is unknown or blocked),
// ErrMaxSessions (the payer's Max Sessions are taken), ErrNoCapacity (this
// node runs MaxLiveCalls calls already), ErrNotRunning (Run
// has ended, or did not begin before ctx ended). Then
// r is inserted already leased to this node, so no other node claims it,
// and handed to the Dialer at once; the call is then the dispatcher's, as
// if claimed: lease renewal, cancel from outside, the outcome, and the
// rescuer if this process dies.
func (d *Dispatcher) Start(ctx context.Context, r *Request) error {
	if d.dialer == nil {
		return fmt.Errorf("start request: %w", ErrNoDialer)
	}
	if err := r.validateNew(); err != nil {
		return err
	}
	if err := d.policy.CheckCreditTime(r); err != nil {
		return err
	}
	d.mu.Lock()
	started, ended := d.started, d.ended
	d.mu.Unlock()
	if ended {
		return fmt.Errorf("start request: %w", ErrNotRunning)
	}
	select {
	case <-started: // a caller may ring in while Run is still starting
	case <-ctx.Done():
		return fmt.Errorf("start request: waiting for the dispatcher to run: %w", ErrNotRunning)
	}
	acct, err := d.store.GetAccount(ctx, r.Username)
	switch {
	case errors.Is(err, ErrNotFound):
		return &ValidationError{Field: "username", Reason: fmt.Sprintf("no account %q", r.Username)}
	case err != nil:
		return fmt.Errorf("start request: look up account: %w", err)
	case acct.Blocked:
		return &ValidationError{Field: "username", Reason: fmt.Sprintf("account %q is blocked", r.Username)}
	}
	if live := d.Live(); live >= d.policy.MaxLiveCalls {
		return fmt.Errorf("start request: %d calls live: %w", live, ErrNoCapacity)
	}
	payer := r.Username
	if r.Payer != "" {
		payer = r.Payer
	}
	starting, err := d.reserveSession(ctx, payer, acct.MaxSessions)
	if err != nil {
		return fmt.Errorf("start request for %s: %w", payer, err)
	}
	now := d.now()
	if r.Source == "" {
		r.Source = SourceAdmin
	}
	r.NextCall, r.Attempt, r.LeaseOwner, r.LeaseExpires = now, 1, d.owner, now.Add(d.policy.Lease)
	if err := d.store.CreateRequest(ctx, r); err != nil {
		starting()
		return fmt.Errorf("start request for %s: %w", r.Username, err)
	}
	log := d.log.With("request_id", r.ID, "attempt", r.Attempt, "cli", r.OriginalCLI, "account", r.Username, "source", r.Source)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.callCtx == nil {
		// Run ended meanwhile: the row is leased to this process, so the
		// next start of this node takes it back at once.
		starting()
		return fmt.Errorf("start request %d: %w", r.ID, ErrNotRunning)
	}
	d.startLocked(d.callCtx, d.calls, r, func(ctx context.Context, lease Lease) {
		defer starting()
		log.Info("request started on this node")
		d.dial(ctx, log, lease, r, starting)
	})
	return nil
}

// handle applies the checks of a claimed request: canceled, expired,
// invalid, unknown or blocked account, Max Sessions. ok says the request
// is to be dialled, with the func that ends its count against Max
// Sessions; otherwise handle has finished or released it.
func (d *Dispatcher) handle(ctx context.Context, lease Lease, r *Request) (log *slog.Logger, starting func(), ok bool) {
	log = d.log.With("request_id", r.ID, "attempt", r.Attempt, "cli", r.OriginalCLI, "account", r.Username)
	now := d.now()
	finish := func(res Result, why string) {
		d.conclude(ctx, log, lease, r, Change{From: r.Status, To: StatusFinished, Result: res, Error: why}, Outcome{Result: res, Reason: why})
	}
	switch {
	case r.Canceled:
		log.Info("request canceled before it was dialled")
		finish(ResultCanceled, "canceled before dialling")
		return log, nil, false
	case d.policy.MaxAge > 0 && r.Age(now) > d.policy.MaxAge:
		// Age counts from when the request was meant to run, so a callback
		// scheduled far ahead is not expired by its own schedule; and from
		// when it was first put back undialled (DueSince), so one deferred
		// again and again for Max Sessions still expires.
		log.Warn("request expired: too old to try", "created", r.CreationTime, "next_call", r.NextCall,
			"due_since", r.DueSince, "max_age", d.policy.MaxAge)
		finish(ResultExpired, fmt.Sprintf("older than %s", d.policy.MaxAge))
		return log, nil, false
	}
	err := r.Validate()
	if err == nil {
		err = d.policy.CheckCreditTime(r)
	}
	if err != nil {
		log.Warn("request refused: it can never be dialled", "reason", err)
		finish(ResultInvalid, err.Error())
		return log, nil, false
	}
	acct, err := d.store.GetAccount(ctx, r.Username)
	switch {
	case errors.Is(err, ErrNotFound):
		log.Warn("request refused: unknown username")
		finish(ResultInvalid, fmt.Sprintf("username: no account %q", r.Username))
		return log, nil, false
	case err != nil:
		d.release(ctx, log, lease, d.now().Add(d.policy.ScanInterval), "account lookup failed: "+err.Error())
		return log, nil, false
	case acct.Blocked:
		log.Warn("request refused: account blocked")
		finish(ResultInvalid, fmt.Sprintf("username: account %q is blocked", r.Username))
		return log, nil, false
	}
	payer := r.Username
	if r.Payer != "" {
		payer = r.Payer
	}
	starting, ok = d.takeSession(ctx, log, lease, payer, acct.MaxSessions)
	return log, starting, ok
}

// dial hands r to the Dialer and writes the outcome. starting ends the
// call's count against Max Sessions once the store counts it as live.
func (d *Dispatcher) dial(ctx context.Context, log *slog.Logger, lease Lease, r *Request, starting func()) {
	call := NewAttempt(d.store, lease, *r, d.policy.Timeout, d.now)
	d.mu.Lock()
	if lc, ok := d.live[r.ID]; ok && lc.lease == lease {
		lc.call = call
	}
	d.mu.Unlock()
	call.onEvent = func(s Status) {
		if s == StatusFirstLegInitiated {
			starting()
		}
	}
	if d.obs != nil {
		d.obs.Dispatched(r, d.now().Sub(r.NextCall))
	}
	out := d.dialer.Dial(ctx, call)
	d.outcome(ctx, log, lease, call, out)
}

// outcome applies the retry policy to how an attempt ended and writes it.
func (d *Dispatcher) outcome(ctx context.Context, log *slog.Logger, lease Lease, call *Attempt, out Outcome) {
	cause := context.Cause(ctx)
	status := call.Status()
	cur := call.Request
	switch {
	case errors.Is(cause, ErrLeaseLost):
		log.Warn("lease lost during the call; another node owns the request now")
		return
	case !status.Live() && (out.Err != nil || out.Result == ResultNone):
		// Never originated: back to the queue, no attempt counted.
		why := "not dialled"
		if out.Err != nil {
			why = "not dialled: " + out.Err.Error()
		}
		log.Warn("attempt not placed; request returns to the queue", "reason", why)
		d.release(ctx, log, lease, d.now().Add(min(d.policy.BackoffInterval, 2*d.policy.ScanInterval)), why)
		return
	}
	sip := out.SIPCode
	if sip == 0 && out.Cause != CauseUnknown && out.Result != ResultSuccessful {
		sip = out.Cause.SIPCode()
	}
	now := d.now()
	end := EndAttempt(AttemptEnd{From: status, Result: out.Result, Canceled: errors.Is(cause, ErrCanceled), Inbound: cur.Inbound(),
		CallCount: cur.CallCount, MaxAttempts: d.policy.MaxAttempts, Now: now, Backoff: d.policy.BackoffInterval})
	ch := Change{From: status, To: end.Status, Result: end.Result, NextCall: end.NextCall,
		Cause: int(out.Cause), SIPCode: sip, Error: out.Reason, DisconnectTime: now}
	if out.Cause != CauseUnknown {
		log = log.With("cause", int(out.Cause), "cause_name", out.Cause.String(), "sip_code", sip)
	}
	d.conclude(ctx, log, lease, &cur, ch, out)
}

// takeSession applies the payer's Max Sessions. The database counts the
// calls in a live status on every node; calls of this node that passed the
// check but have not yet reached First leg initiated are counted here, so
// two requests of one account claimed in the same batch cannot both pass.
// The returned func ends the local count (idempotent); ok is false when the
// request was deferred.
func (d *Dispatcher) takeSession(ctx context.Context, log *slog.Logger, lease Lease, payer string, maxSessions int) (func(), bool) {
	starting, err := d.reserveSession(ctx, payer, maxSessions)
	switch {
	case errors.Is(err, ErrMaxSessions) && maxSessions < MinMaxSessions:
		// The account can never run a callback: the request waits, keeping
		// its age, until it ends Expired after callback.max_age.
		log.Warn("Max Sessions is below what a callback needs: request deferred; it ends Expired after callback.max_age unless the account's Max Sessions is raised",
			"max_sessions", maxSessions, "needed", MinMaxSessions, "payer", payer)
		d.release(ctx, log, lease, d.now().Add(d.policy.BackoffInterval), fmt.Sprintf("Max Sessions %d is below the %d a callback needs", maxSessions, MinMaxSessions))
		return nil, false
	case errors.Is(err, ErrMaxSessions):
		log.Info("Max Sessions reached: request deferred", "max_sessions", maxSessions, "reason", err)
		d.release(ctx, log, lease, d.now().Add(d.policy.BackoffInterval), fmt.Sprintf("Max Sessions %d reached", maxSessions))
		return nil, false
	case err != nil:
		d.release(ctx, log, lease, d.now().Add(d.policy.ScanInterval), err.Error())
		return nil, false
	}
	return starting, true
}

// reserveSession counts a call of payer against its Max Sessions, or
// returns ErrMaxSessions (wrapped with the count) or a store error. The
// returned func ends the count and may be called more than once.
func (d *Dispatcher) reserveSession(ctx context.Context, payer string, maxSessions int) (func(), error) {
	if maxSessions <= 0 {
		return func() {}, nil
	}
	d.sessMu.Lock()
	n, err := d.store.LiveCalls(ctx, payer)
	if err != nil {
		d.sessMu.Unlock()
		return nil, fmt.Errorf("live call count failed: %w", err)
	}
	total := n + d.starting[payer]
	// A callback holds two sessions (seed 000: Max Sessions >= 2).
	if MinMaxSessions*(total+1) > maxSessions {
		d.sessMu.Unlock()
		return nil, fmt.Errorf("%d calls live, Max Sessions %d: %w", total, maxSessions, ErrMaxSessions)
	}
	d.starting[payer]++
	d.sessMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.sessMu.Lock()
			if d.starting[payer]--; d.starting[payer] <= 0 {
				delete(d.starting, payer)
			}
			d.sessMu.Unlock()
		})
	}, nil
}

// conclude writes the end of an attempt. The call is over, so the write is
// retried through a database outage for as long as the lease would have
// lasted; after that the rescuer decides, from the row's status, as it
// would for a node that died.
func (d *Dispatcher) conclude(ctx context.Context, log *slog.Logger, lease Lease, r *Request, ch Change, out Outcome) {
	d.settling(lease)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.policy.Lease)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		got, err := d.store.Update(wctx, lease, ch)
		if err == nil {
			log.Info("attempt concluded", "status", got.Status, "result", got.Result, "call_count", got.CallCount,
				"next_call", got.NextCall, "reason", ch.Error)
			if d.obs != nil {
				d.obs.Concluded(got, out)
			}
			return
		}
		var te *TransitionError
		if errors.Is(err, ErrLeaseLost) || errors.As(err, &te) {
			log.Warn("could not conclude attempt", "err", err)
			return
		}
		log.Error("could not write attempt outcome; retrying", "err", err)
		select {
		case <-wctx.Done():
			log.Error("gave up writing attempt outcome; the rescuer will settle the request", "err", err)
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (d *Dispatcher) release(ctx context.Context, log *slog.Logger, lease Lease, next time.Time, note string) {
	d.settling(lease)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := d.store.Release(wctx, lease, next, note); err != nil {
		log.Error("could not release request; its lease will expire", "err", err)
	}
}

// housekeeping renews the leases of live calls, hangs up calls canceled
// from outside, and returns expired leases of other nodes to the queue.
func (d *Dispatcher) housekeeping(ctx context.Context) {
	renew := time.NewTicker(d.policy.Lease / 3)
	defer renew.Stop()
	cancelScan := time.NewTicker(d.policy.ScanInterval)
	defer cancelScan.Stop()
	rescue := time.NewTicker(d.policy.RescueInterval)
	defer rescue.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			d.renewAll(ctx)
		case <-cancelScan.C:
			d.cancelRequested(ctx)
		case <-rescue.C:
			n, err := d.store.Rescue(ctx, d.rescueParams(false))
			if err != nil && ctx.Err() != nil {
				return // stopping
			}
			if err != nil {
				d.log.Error("rescue of expired leases failed", "err", err)
			} else if n > 0 {
				d.log.Info("rescued requests whose lease expired", "count", n)
			}
		}
	}
}

func (d *Dispatcher) snapshot() []*liveCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*liveCall, 0, len(d.live))
	for _, lc := range d.live {
		out = append(out, lc)
	}
	return out
}

// settling marks the call holding lease as writing its last change.
func (d *Dispatcher) settling(lease Lease) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if lc, ok := d.live[lease.RequestID]; ok && lc.lease == lease {
		lc.settling.Store(true)
	}
}

func (d *Dispatcher) renewAll(ctx context.Context) {
	until := d.now().Add(d.policy.Lease)
	for _, lc := range d.snapshot() {
		err := d.store.Renew(ctx, lc.lease, until)
		if ctx.Err() != nil {
			return // stopping: the calls are being ended
		}
		switch {
		case err == nil:
			d.mu.Lock()
			call := lc.call
			d.mu.Unlock()
			if call != nil {
				call.setLeaseUntil(until)
			}
		case errors.Is(err, ErrLeaseLost) && lc.settling.Load():
			// The call ended while its lease was being renewed: its
			// last write gave the lease up.
			d.log.Debug("lease ended with its call", "request_id", lc.lease.RequestID, "attempt", lc.lease.Attempt)
		case errors.Is(err, ErrLeaseLost):
			d.log.Warn("lease lost; hanging up", "request_id", lc.lease.RequestID, "attempt", lc.lease.Attempt)
			lc.cancel(ErrLeaseLost)
		case err != nil:
			d.log.Error("lease renewal failed", "request_id", lc.lease.RequestID, "err", err)
		}
	}
}

func (d *Dispatcher) cancelRequested(ctx context.Context) {
	if d.Live() == 0 {
		return
	}
	ids, err := d.store.CanceledHeld(ctx, d.owner)
	if err != nil {
		d.log.Error("cancel check failed", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if lc, ok := d.live[id]; ok {
			d.log.Info("request canceled from outside; hanging up", "request_id", id)
			lc.cancel(ErrCanceled)
		}
	}
}
