package httpapi

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/callbackd/callbackd/callback"
)

// Five wrong passwords from one client lock that client out of the
// account, not the account: the owner's request from another address is
// created (it was refused with 429 before).
func TestGuessingClientDoesNotLockOutTheOwner(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func(testing.TB) callback.Store) {
		e := newEnv(t, open(t), func(o *Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
		from := func(addr string) cred { return header("X-Forwarded-For", addr) }
		const body = `{"original_cli":"4930111222"}`
		for range 5 {
			if r := e.postJSON("/api/v1/requests", body, basic("alice", "guess"), from("198.51.100.66")); r.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", r.status)
			}
		}
		if r := e.postJSON("/api/v1/requests", body, asAlice, from("198.51.100.66")); r.status != http.StatusTooManyRequests {
			t.Errorf("right password from the guessing client: %d, want 429", r.status)
		}
		if r := e.postJSON("/api/v1/requests", body, asAlice, from("203.0.113.7")); r.status != http.StatusCreated {
			t.Fatalf("right password from the owner's address: %d, want 201\n%s", r.status, r.body)
		}
	})
}
