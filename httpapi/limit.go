package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/callbackd/callbackd/limiter"
)

// Limits are the HTTP surfaces' abuse limits (F1). Failed logins are limited
// by the auth.Authenticator, not here.
type Limits struct {
	// PerSource limits write requests (create, cancel, every XML-RPC call,
	// the SMS webhook) per client address: 100 at once, then 20 a second.
	PerSource limiter.Limit
	// PerAccount limits requests created by an account that logged in with
	// its password: 20 at once, then one every 3 s. Operator tokens are not
	// held to it.
	PerAccount limiter.Limit
	// PerSender limits SMS triggers per sender number: 3 at once, then one
	// a minute.
	PerSender limiter.Limit
	// TokenFailures limits wrong bearer tokens per client address: 10, then
	// one a minute.
	TokenFailures limiter.Limit
	// MaxKeys bounds the keys each limiter tracks (default 100000). When
	// full of active keys, new keys are refused: memory stays bounded under
	// a flood of addresses, at the price of limiting newcomers.
	MaxKeys int
}

// DefaultLimits returns the defaults above.
func DefaultLimits() Limits {
	return Limits{
		PerSource:     limiter.Limit{Every: 50 * time.Millisecond, Burst: 100},
		PerAccount:    limiter.Limit{Every: 3 * time.Second, Burst: 20},
		PerSender:     limiter.Limit{Every: time.Minute, Burst: 3},
		TokenFailures: limiter.Limit{Every: time.Minute, Burst: 10},
		MaxKeys:       limiter.DefaultMaxKeys,
	}
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
