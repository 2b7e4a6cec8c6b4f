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

// SharedPeeker is SharedBuckets that can also read a bucket without
// taking from it: whether it has a token, and whether it is full. The
// limits that count failures (failed logins) peek before each try and
// take a token only for a failure; shared in a store without it, their
// peeks are answered by the node's own buckets.
type SharedPeeker interface {
	SharedBuckets
	PeekToken(ctx context.Context, name, key string, every time.Duration, burst int, now time.Time) (token, full bool, err error)
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

// takeShared is Take for shared buckets; answered is false when the
// store failed or did not answer within sharedTimeout.
func (k *Keyed) takeShared(ctx context.Context, key string, now time.Time) (ok, answered bool) {
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	ok, err := k.shared.buckets.TakeToken(ctx, k.shared.name, key, k.limit.Every, k.limit.Burst, now)
	return ok, err == nil
}

// peekShared is Peek for shared buckets; answered is false when the store
// cannot peek, failed, or did not answer within sharedTimeout.
func (k *Keyed) peekShared(ctx context.Context, key string, now time.Time) (lv Level, answered bool) {
	p, ok := k.shared.buckets.(SharedPeeker)
	if !ok {
		return Level{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	token, full, err := p.PeekToken(ctx, k.shared.name, key, k.limit.Every, k.limit.Burst, now)
	return Level{Token: token, Full: full}, err == nil
}
