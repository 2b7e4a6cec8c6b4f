package trigger

import (
	"context"
	"errors"
	"time"

	"github.com/callbackd/callbackd/callback"
)

// callerLookup is a store that answers, in one round trip, what the ANI
// trigger asks about a caller: the account AccountByCLI finds and the
// request Service.Pending finds (nil for either when there is none). Both
// SQL stores implement it.
type callerLookup interface {
	CallerByCLI(ctx context.Context, cli string, since time.Time) (*callback.Account, *callback.Request, error)
}

// newCallerCreator is a store that queues a request for a caller on the
// assumption that the caller is new, checking it in the same statement:
// no unfinished request for cli and, with accounts, no account for it.
// ok is false, and nothing was written, when the assumption does not hold.
// Both SQL stores implement it; CreatesForNewCallers is false where the
// database cannot do it in one statement.
type newCallerCreator interface {
	CreateRequestForNewCaller(ctx context.Context, r *callback.Request, cli string, accounts bool) (ok bool, err error)
	CreatesForNewCallers() bool
}

// errNotNew is newCallerStore's CreateRequest finding the caller known or
// a request of the caller's unfinished.
var errNotNew = errors.New("caller not new")

// newCallerStore is the store Service.Create inserts a new caller's
// request through (Engine.newCaller).
type newCallerStore struct {
	callback.Store
	creator  newCallerCreator
	cli      string
	accounts bool
}

func (s newCallerStore) CreateRequest(ctx context.Context, r *callback.Request) error {
	ok, err := s.creator.CreateRequestForNewCaller(ctx, r, s.cli, s.accounts)
	if err == nil && !ok {
		return errNotNew
	}
	return err
}

// newCaller queues the ANI trigger's callback in one round trip to the
// store where the caller's account cannot decide it: it makes the request
// an unknown caller with nothing pending gets, and the store inserts it
// only if that is so (no account for cli where the number identifies
// callers, no unfinished request for cli). done is false, with nothing
// queued, when the store found either, or when the shortcut does not
// apply: an unknown caller would not be called back, the number names an
// IVR (a lookup of its own), or the per-account limit is on (its token is
// taken only for a request the pending check lets through, and that check
// is then still to come). The caller then goes the usual way
// (identifyCaller, queue), which decides as before; so it does when the
// statement fails other than for a database that is unavailable.
func (e *Engine) newCaller(ctx context.Context, n *callback.AccessNumber, rule *callback.CLDRule, cli string) (d Decision, done bool, err error) {
	cr, ok := e.Store.(newCallerCreator)
	if !ok || !cr.CreatesForNewCallers() || n.IsCallback >= callback.FirstIVRID || e.perAccount.Enabled() {
		return Decision{}, false, nil
	}
	_, r, err := e.aniRequest(ctx, n, rule, cli, nil, false)
	if r == nil || err != nil {
		return Decision{}, false, nil
	}
	svc := *e.service()
	svc.Store = newCallerStore{Store: svc.Store, creator: cr, cli: cli, accounts: identifiesCallers(n)}
	d, err = e.create(ctx, n, r, "", &svc)
	switch {
	case errors.Is(err, errNotNew):
		return Decision{}, false, nil
	case err != nil && !errors.Is(err, callback.ErrUnavailable):
		// The statement failed whole (a database unavailable would fail
		// the usual way too, only later): as identifyCaller does when
		// the combined lookup fails, the questions are asked apart.
		e.Log.Debug("one-statement insert failed; asking apart", "cli", cli, "err", err)
		return Decision{}, false, nil
	}
	return d, true, err
}

// pendingCheck is the "already pending" check made ahead of queue: req is
// the pending request, nil when there is none.
type pendingCheck struct {
	req *callback.Request
}

// identifyCaller is identify plus the pending check for cli, in one query
// where the store can. pending is nil when the check is still to be made:
// the store cannot combine them, the number does not identify callers, or
// the combined query failed. In that last case the two are asked apart,
// so the caller learns which failed (and a failed pending check is counted)
// as before.
func (e *Engine) identifyCaller(ctx context.Context, n *callback.AccessNumber, cli string) (known *callback.Account, lowBalance bool, pending *pendingCheck, why string, err error) {
	cl, ok := e.Store.(callerLookup)
	if !ok || !identifiesCallers(n) {
		known, lowBalance, why, err = e.identify(ctx, n, cli)
		return known, lowBalance, nil, why, err
	}
	a, req, err := cl.CallerByCLI(ctx, cli, e.pendingSince())
	if err != nil {
		e.Log.Debug("combined caller lookup failed; asking apart", "cli", cli, "err", err)
		known, lowBalance, why, err = e.identify(ctx, n, cli)
		return known, lowBalance, nil, why, err
	}
	pending = &pendingCheck{req: req}
	if a == nil {
		return nil, false, pending, "", nil
	}
	known, lowBalance, why, err = e.judge(ctx, n, a)
	return known, lowBalance, pending, why, err
}

// pendingSince is the bound Service.Pending passes to the store: requests
// waiting since before it are too old to be dialled (callback.max_age).
func (e *Engine) pendingSince() time.Time {
	p := e.Service.Policy
	if p.MaxAge <= 0 {
		return time.Time{}
	}
	now := time.Now()
	if e.Service.Now != nil {
		now = e.Service.Now()
	}
	return now.Add(-p.MaxAge)
}
