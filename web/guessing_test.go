package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// forwardedFor makes a user's requests come from addr, as a trusted proxy
// in front of the page says.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.next.RoundTrip(r)
}

func (tp *testPage) userFrom(addr string) *user {
	u := tp.user()
	u.http.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	return u
}

func behindProxy(o *Options) {
	o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// slowRefill gives the page an Authenticator whose budgets refill only
// after an hour, so what a test counts does not depend on how fast it
// runs: 5 failures per (account, source) and per source, 20 per account
// and 20 per surface.
func slowRefill(st callback.Store) func(o *Options) {
	return func(o *Options) {
		a := auth.New(st, nil, time.Hour, 5)
		l := auth.DefaultLimits(time.Hour, 5)
		l.PerAccount.Every, l.PerSurface.Every = time.Hour, time.Hour
		a.SetLimits(l)
		o.Auth = a
	}
}

func forBothStores(t *testing.T, fn func(t *testing.T, st callback.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, dbtest.SQLite(t)) })
	t.Run("mariadb", func(t *testing.T) { fn(t, dbtest.MySQL(t)) })
}

// 200 sources guessing one PIN each on the simple page are slowed by the
// page's budget of failures over all sources: past it every PIN is refused
// with 429 for now, the right one from a new source included, and nothing
// is requested. Before, no source was ever slowed and the right PIN then
// placed a callback.
func TestManySourcesGuessingPINsAreSlowed(t *testing.T) {
	forBothStores(t, func(t *testing.T, st callback.Store) {
		seedAccounts(t, st)
		tp := newTestPage(t, st, nil, behindProxy, slowRefill(st))
		codes := map[int]int{}
		for i := range 200 {
			u := tp.userFrom(fmt.Sprintf("198.18.%d.%d", i/250, 1+i%250))
			p := u.submit(ModeSimple, url.Values{"pin": {fmt.Sprintf("%08d", 10_000_000+i)}, "number": {"+420777000222"}})
			codes[p.code]++
		}
		if codes[http.StatusUnprocessableEntity] != 20 || codes[http.StatusTooManyRequests] != 180 {
			t.Errorf("200 one-guess sources: %v, want 20 refused as wrong (422) and then 180 slowed (429)", codes)
		}
		p := tp.userFrom("203.0.113.50").submit(ModeSimple, url.Values{"pin": {testPIN}, "number": {"+420777000222"}})
		if p.code != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
			t.Errorf("right PIN from a new source with the budget spent: %d, want 429 with Retry-After", p.code)
		}
		if rs := tp.requests(); len(rs) != 0 {
			t.Errorf("%d requests created", len(rs))
		}
	})
}

// A source that failed five times is locked out of the account; the owner
// on another network is not, and places the callback (refused with 429
// before).
func TestGuessingSourceDoesNotLockOutTheOwner(t *testing.T) {
	forBothStores(t, func(t *testing.T, st callback.Store) {
		seedAccounts(t, st)
		tp := newTestPage(t, st, nil, behindProxy, slowRefill(st))
		guesser := tp.userFrom("198.51.100.66")
		for i := range 5 {
			v := extended("+420777000111", "+420777000999")
			v.Set("password", fmt.Sprintf("guess-%d", i))
			if p := guesser.submit(ModeExtended, v); p.code != http.StatusUnprocessableEntity {
				t.Fatalf("guess %d: %d", i, p.code)
			}
		}
		if p := guesser.submit(ModeExtended, extended("+420777000111", "+420777000999")); p.code != http.StatusTooManyRequests {
			t.Errorf("right password from the guessing source: %d, want 429", p.code)
		}
		if p := tp.userFrom("203.0.113.7").submit(ModeExtended, extended("+420777000111", "+420777000999")); p.code != http.StatusSeeOther {
			t.Fatalf("right password from the owner's network: %d, want 303\n%s", p.code, p.body)
		}
	})
}
