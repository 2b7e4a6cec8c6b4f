package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
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

// Limits are the HTTP surfaces' abuse limits (F1). Failed logins are limited
// by the auth.Authenticator, not here.
type Limits struct {
	// PerSource limits write requests (create, cancel, every XML-RPC call,
	// the SMS webhook) per client address: 100 at once, then 20 a second.
	PerSource Limit
	// PerAccount limits requests created by an account that logged in with
	// its password: 20 at once, then one every 3 s. Operator tokens are not
	// held to it.
	PerAccount Limit
	// PerSender limits SMS triggers per sender number: 3 at once, then one
	// a minute.
	PerSender Limit
	// TokenFailures limits wrong bearer tokens per client address: 10, then
	// one a minute.
	TokenFailures Limit
	// MaxKeys bounds the keys each limiter tracks (default 100000). When
	// full of active keys, new keys are refused: memory stays bounded under
	// a flood of addresses, at the price of limiting newcomers.
	MaxKeys int
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerSource:     Limit{Every: 50 * time.Millisecond, Burst: 100},
		PerAccount:    Limit{Every: 3 * time.Second, Burst: 20},
		PerSender:     Limit{Every: time.Minute, Burst: 3},
		TokenFailures: Limit{Every: time.Minute, Burst: 10},
		MaxKeys:       100000,
	}
}

// keyed is a set of token buckets, one per key, with a hard bound on the
// number of keys. Buckets that have refilled are forgotten, since a new
// bucket is full anyway.
type keyed struct {
	limit   Limit
	maxKeys int
	now     func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

func newKeyed(l Limit, maxKeys int, now func() time.Time) *keyed {
	if maxKeys <= 0 {
		maxKeys = DefaultLimits().MaxKeys
	}
	return &keyed{limit: l, maxKeys: maxKeys, now: now, buckets: map[string]*rate.Limiter{}}
}

func (k *keyed) enabled() bool { return k != nil && k.limit.Every > 0 }

// refill is how long an empty bucket takes to fill up again.
func (k *keyed) refill() time.Duration { return k.limit.Every * time.Duration(max(k.limit.Burst, 1)) }

// sweep forgets full buckets. It runs at most once per refill period,
// unless force is set because the map is at its bound.
func (k *keyed) sweep(now time.Time, force bool) {
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
func (k *keyed) get(key string, now time.Time) *rate.Limiter {
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

// take takes a token from key's bucket. When there is none it reports how
// long until there is.
func (k *keyed) take(key string) (bool, time.Duration) {
	if !k.enabled() {
		return true, 0
	}
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

// has reports whether key has a token, without taking it: for limits that
// count failures only.
func (k *keyed) has(key string) bool {
	if !k.enabled() {
		return true
	}
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	l, ok := k.buckets[key]
	return !ok || l.TokensAt(now) >= 1
}

// len is the number of tracked keys.
func (k *keyed) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// clientAddr is the address limits and logs use for r: the peer, or, when
// the peer is a trusted proxy, the nearest address in X-Forwarded-For that
// is not one.
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	// Bounded by the header size limit of the server; walked from the
	// nearest hop outwards because only trusted proxies append honestly.
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String()
			}
			a = a.Unmap()
			if !isTrusted(a, trusted) {
				return a.String()
			}
			peer = a
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
