package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/limiter"
)

// secondNode serves e's store as another callbackd node would: its own
// handler, limits and Authenticator, the buckets shared with e's when
// shared is set.
func (e *env) secondNode(t *testing.T, shared bool) *env {
	t.Helper()
	o := e.opts
	o.Authenticator = auth.New(e.store, []string{testToken}, time.Hour, 5)
	o.SharedLimits = nil
	if shared {
		o.SharedLimits = e.store.(limiter.SharedBuckets)
		o.Authenticator.ShareLimits(o.SharedLimits)
	}
	n := *e
	n.opts = o
	n.srv = httptest.NewServer(New(o))
	t.Cleanup(n.srv.Close)
	return &n
}

// Two nodes on one database, clients alternating between them: counted
// per process, the wrong API tokens, the wrong passwords and the requests
// per client address each get twice their budget through; shared in the
// database (limits.shared), one budget holds over both.
func TestHTTPLimitsHoldAcrossNodes(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		for _, shared := range []bool{false, true} {
			st := open(t)
			lim := DefaultLimits()
			lim.PerSource = limiter.Limit{Every: time.Hour, Burst: 4}
			e := newEnv(t, st, func(o *Options) {
				o.Limits = &lim
				o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				if shared {
					o.SharedLimits = st.(limiter.SharedBuckets)
					o.Authenticator.ShareLimits(o.SharedLimits)
				}
			})
			nodes := []*env{e, e.secondNode(t, shared)}
			// until counts the answers with status want, alternating
			// nodes, until another status.
			until := func(want int, try func(n *env) response) int {
				t.Helper()
				for i := range 50 {
					r := try(nodes[i%2])
					if r.status == http.StatusTooManyRequests {
						return i
					}
					if r.status != want {
						t.Fatalf("shared=%v, try %d: %d, want %d or 429\n%s", shared, i+1, r.status, want, r.body)
					}
				}
				t.Fatalf("shared=%v: never refused", shared)
				return 0
			}
			from := func(addr string) cred { return header("X-Forwarded-For", addr) }
			factor := 2
			if shared {
				factor = 1
			}
			if got := until(http.StatusUnauthorized, func(n *env) response {
				return n.get("/api/v1/requests/1", bearer("wrong-token"), from("198.51.100.1"))
			}); got != factor*lim.TokenFailures.Burst {
				t.Errorf("shared=%v: %d wrong API tokens before 429, want %d", shared, got, factor*lim.TokenFailures.Burst)
			}
			if got := until(http.StatusUnauthorized, func(n *env) response {
				return n.get("/api/v1/requests/1", basic("alice", "guess"), from("198.51.100.2"))
			}); got != factor*5 {
				t.Errorf("shared=%v: %d wrong passwords before 429, want %d", shared, got, factor*5)
			}
			if got := until(http.StatusCreated, func(n *env) response {
				return n.postJSON("/api/v1/requests", fmt.Sprintf(`{"username":"alice","original_cli":"49301112%02d"}`, n.count()), bearer(testToken), from("198.51.100.3"))
			}); got != factor*lim.PerSource.Burst {
				t.Errorf("shared=%v: %d requests created from one address before 429, want %d", shared, got, factor*lim.PerSource.Burst)
			}
		}
	})
}
