// Package limiter holds the abuse limits every trigger surface uses (F1): a
// token bucket per key (caller ID, account, client address, number), with
// a bound on how many keys it tracks so memory stays bounded under a
// flood of new keys. It imports nothing of the project.
package limiter

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst at once, then one every Every. A zero
// Every switches the limit off.
type Limit struct {
	Every time.Duration
	Burst int
}

// DefaultMaxKeys is how many keys a Keyed tracks when New is given no
// bound.
const DefaultMaxKeys = 100000

// Keyed is a set of token buckets, one per key, with a hard bound on the
// number of keys. Buckets that have refilled are forgotten, since a new
// bucket is full anyway.
type Keyed struct {
	limit   Limit
	maxKeys int
	now     func() time.Time
	shared  *shared // nil: the buckets are this process's (see Share)

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// New returns buckets with limit l, tracking maxKeys keys at most
// (DefaultMaxKeys when not positive). now defaults to time.Now.
func New(l Limit, maxKeys int, now func() time.Time) *Keyed {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Keyed{limit: l, maxKeys: maxKeys, now: now, buckets: map[string]*rate.Limiter{}}
}

// Enabled reports whether the limit applies at all: a zero Every lets
// every key through.
func (k *Keyed) Enabled() bool { return k != nil && k.limit.Every > 0 }

// refill is how long an empty bucket takes to fill up again.
func (k *Keyed) refill() time.Duration { return k.limit.Every * time.Duration(max(k.limit.Burst, 1)) }

// sweep forgets full buckets. It runs at most once per refill period,
// unless force is set because the map is at its bound.
func (k *Keyed) sweep(now time.Time, force bool) {
	if !force && now.Sub(k.swept) < k.refill() {
		return
	}
	burst := float64(max(k.limit.Burst, 1))
	for key, l := range k.buckets {
		if l.TokensAt(now) >= burst {
			delete(k.buckets, key)
		}
	}
	k.swept = now
}

// get returns key's bucket, creating it; nil when the map is full.
func (k *Keyed) get(key string, now time.Time) *rate.Limiter {
	k.sweep(now, false)
	l, ok := k.buckets[key]
	if ok {
		return l
	}
	if len(k.buckets) >= k.maxKeys {
		k.sweep(now, true)
		if len(k.buckets) >= k.maxKeys {
			return nil
		}
	}
	l = rate.NewLimiter(rate.Every(k.limit.Every), max(k.limit.Burst, 1))
	k.buckets[key] = l
	return l
}

// Take takes a token from key's bucket, from the shared bucket when k is
// shared (Share). When there is none it reports how long until there is
// (for a shared bucket: at most Every). A new key is refused while the
// set is full of active keys.
func (k *Keyed) Take(key string) (bool, time.Duration) {
	return k.TakeContext(context.Background(), key)
}

// TakeContext is Take, the shared bucket's round trip bounded by ctx too.
func (k *Keyed) TakeContext(ctx context.Context, key string) (bool, time.Duration) {
	if !k.Enabled() {
		return true, 0
	}
	if k.shared != nil {
		if ok, answered := k.takeShared(ctx, key, k.now()); answered {
			if ok {
				return true, 0
			}
			return false, k.limit.Every
		}
	}
	return k.takeLocal(key)
}

// takeLocal is Take on the node's own bucket.
func (k *Keyed) takeLocal(key string) (bool, time.Duration) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.get(key, now)
	if l == nil {
		return false, k.limit.Every
	}
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return false, k.limit.Every
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Allow takes a token from key's bucket, like Take; an empty key (a
// trigger that has no caller ID or no source) is not limited.
func (k *Keyed) Allow(key string) bool {
	if key == "" {
		return true
	}
	ok, _ := k.Take(key)
	return ok
}

// Level is what Peek finds in a key's bucket.
type Level struct {
	// Token: there is a token to take.
	Token bool
	// Full: the bucket is full, nothing taken from it is still missing
	// (for limits that count failures: the key has none on record).
	Full bool
}

// Peek looks at key's bucket without taking a token, in the shared
// bucket when k is shared and its store can read one (SharedPeeker):
// for limits that count failures only. A limit that is off is always
// full.
func (k *Keyed) Peek(ctx context.Context, key string) Level {
	if !k.Enabled() {
		return Level{Token: true, Full: true}
	}
	if k.shared != nil {
		if lv, answered := k.peekShared(ctx, key, k.now()); answered {
			return lv
		}
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.buckets[key]
	if !ok {
		return Level{Token: true, Full: true}
	}
	tokens := l.TokensAt(now)
	return Level{Token: tokens >= 1, Full: tokens >= float64(max(k.limit.Burst, 1))}
}

// Has reports whether key has a token, without taking it: for limits that
// count failures only (Peek).
func (k *Keyed) Has(key string) bool { return k.Peek(context.Background(), key).Token }

// Len is the number of tracked keys.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// Limit returns the limit the buckets keep.
func (k *Keyed) Limit() Limit { return k.limit }
