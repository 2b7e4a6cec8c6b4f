package limiter

import (
	"context"
	"time"
)

// SharedBuckets keeps token buckets where every callbackd node sees them:
// the database the nodes share (store/mysql, store/sqlite: the
// rate_limits table). TakeToken takes a token from the bucket of limit
// name and key, burst at once and then one every every, and reports
// whether there was one.
type SharedBuckets interface {
	TakeToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (bool, error)
}

// sharedTimeout bounds one shared bucket's round trip; past it, or when the
// database fails, the node's own bucket decides.
const sharedTimeout = 2 * time.Second

// shared is where a Keyed keeps its buckets when they are shared.
type shared struct {
	name    string
	buckets SharedBuckets
}

// Share keeps k's buckets in s under name (e.g. "trigger.cli"), so all the
// nodes using s share one budget per key instead of each allowing the
// whole burst. When s cannot answer, k falls back to its own bucket for
// that call: a database outage neither blocks nor unlimits the triggers.
// Share is meant for setting up, before k is used.
func (k *Keyed) Share(name string, s SharedBuckets) {
	if k == nil || s == nil {
		return
	}
	k.shared = &shared{name: name, buckets: s}
}

// allowShared is Allow for shared buckets.
func (k *Keyed) allowShared(key string, now time.Time) (ok, answered bool) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	ok, err := k.shared.buckets.TakeToken(ctx, k.shared.name, key, k.limit.Every, k.limit.Burst, now)
	return ok, err == nil
}
