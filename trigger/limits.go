package trigger

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst triggers at once, then one every Every.
// A zero Every disables the limit.
type Limit struct {
	Every time.Duration
	Burst int
}

// Limits are the abuse limits of F1. The yaml tags name the configuration
// keys (limits.per_cli_burst, limits.per_cli_every).
type Limits struct {
	PerCLI     Limit `yaml:"per_cli"`     // triggers per caller ID: 5, then 1 a minute
	PerAccount Limit `yaml:"per_account"` // callbacks queued per account: 10, then 1 every 30 s
	PerSource  Limit `yaml:"per_source"`  // triggers per source address (SIP peer, web client): 60, then 1 a second
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerCLI:     Limit{Every: time.Minute, Burst: 5},
		PerAccount: Limit{Every: 30 * time.Second, Burst: 10},
		PerSource:  Limit{Every: time.Second, Burst: 60},
	}
}

// Keyed is a set of token buckets, one per key, that forgets keys idle for
// long enough to have refilled, so memory stays bounded by active callers.
type Keyed struct {
	limit  Limit
	now    func() time.Time
	shared *shared // nil: the buckets are this process's (see Share)

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// NewKeyed returns buckets with limit l.
func NewKeyed(l Limit, now func() time.Time) *Keyed {
	if now == nil {
		now = time.Now
	}
	return &Keyed{limit: l, now: now, buckets: map[string]*bucket{}}
}

// enabled reports whether the limit applies at all: a zero Every lets
// every key through.
func (k *Keyed) enabled() bool { return k != nil && k.limit.Every > 0 }

// Allow takes a token from key's bucket.
func (k *Keyed) Allow(key string) bool {
	if !k.enabled() || key == "" {
		return true
	}
	now := k.now()
	if k.shared != nil {
		if ok, answered := k.allowShared(key, now); answered {
			return ok
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	idle := k.limit.Every * time.Duration(max(k.limit.Burst, 1))
	if now.Sub(k.swept) > idle {
		for key, b := range k.buckets {
			if now.Sub(b.last) > idle {
				delete(k.buckets, key)
			}
		}
		k.swept = now
	}
	b, ok := k.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Every(k.limit.Every), max(k.limit.Burst, 1))}
		k.buckets[key] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// Len is the number of tracked keys.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
