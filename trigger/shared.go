package trigger

import "github.com/callbackd/callbackd/limiter"

// SharedBuckets keeps token buckets where every callbackd node sees them
// (limiter.SharedBuckets).
type SharedBuckets = limiter.SharedBuckets

// ShareLimits keeps the per-CLI, per-account and per-source limits of e in
// s (see Keyed.Share), under the names trigger.cli, trigger.account and
// trigger.source.
func (e *Engine) ShareLimits(s SharedBuckets) {
	e.perCLI.Share("trigger.cli", s)
	e.perAccount.Share("trigger.account", s)
	e.perSource.Share("trigger.source", s)
}
