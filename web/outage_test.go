package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// With the store really down (closed) the page says so with 503 and Retry-After, on both
// stores, in every mode, and the status page does too; nothing is
// requested.
func TestStoreDownAllModes(t *testing.T) {
	for _, s := range []struct {
		name string
		open func(testing.TB) callback.Store
	}{
		{"sqlite", func(tb testing.TB) callback.Store { return dbtest.SQLite(tb) }},
		{"mariadb", func(tb testing.TB) callback.Store { return dbtest.MySQL(tb) }},
	} {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			seedAccounts(t, st)
			tp := newTestPage(t, st, nil)
			if err := st.(io.Closer).Close(); err != nil {
				t.Fatal(err)
			}
			u := tp.user()
			for mode, v := range map[string]url.Values{
				ModeExtended: extended("+420777000111", "+420777000999"),
				ModeSimple:   {"pin": {testPIN}, "number": {"+420777000222"}},
				ModeHosted:   {"number": {"+420777000333"}},
			} {
				p := u.submit(mode, v)
				if p.code != http.StatusServiceUnavailable || p.header.Get("Retry-After") == "" ||
					!strings.Contains(p.body, "Nothing was requested") {
					t.Errorf("%s: %d Retry-After %q\n%s", mode, p.code, p.header.Get("Retry-After"), p.body)
				}
			}
			if sp := u.get(StatusPath(testKey, 1)); sp.code != http.StatusServiceUnavailable || sp.header.Get("Retry-After") == "" {
				t.Errorf("status page: %d Retry-After %q", sp.code, sp.header.Get("Retry-After"))
			}
		})
	}
}
