package trigger

import (
	"context"
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
