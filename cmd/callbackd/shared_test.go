package main

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
)

// limits.shared decides whether the abuse limits are counted in the
// database: on by default with MariaDB/MySQL, off on request, never on the
// embedded store.
func TestSharedLimitsFollowsConfig(t *testing.T) {
	st := openSQLite(t)
	c := DefaultConfig()
	if sharedLimits(&c, st) != nil {
		t.Error("the embedded store's limits are shared; they should stay in the process")
	}
	// The store stands in for a MariaDB one: what matters here is the
	// decision, taken on the configuration.
	c.Database.MySQLDSN = "callbackd@tcp(127.0.0.1:3306)/callbackd"
	if sharedLimits(&c, st) == nil {
		t.Error("with a MariaDB/MySQL database and limits.shared on by default, the limits are not shared")
	}
	c.Limits.Shared = false
	if sharedLimits(&c, st) != nil {
		t.Error("limits.shared false still shares the limits")
	}
}

// On the embedded store (one node) limits.shared, on by default, changes
// nothing for the failed logins and the HTTP API's limits: they are
// counted in the process and nothing is written to rate_limits.
func TestSharedLimitsHarmlessOnSQLite(t *testing.T) {
	st := openSQLite(t)
	c := DefaultConfig()
	if !c.Limits.Shared {
		t.Fatal("limits.shared is off by default")
	}
	a := newAuthenticator(&c, st)
	var errs []error
	for range c.HTTP.Login.Burst + 1 {
		_, err := a.Password(t.Context(), "801", "wrong", "192.0.2.1")
		errs = append(errs, err)
	}
	if !errors.Is(errs[len(errs)-1], auth.ErrTooManyAttempts) {
		t.Errorf("after %d failures: %v, want too many attempts", c.HTTP.Login.Burst, errs[len(errs)-1])
	}
	// Another process on the file counts its own.
	if _, err := newAuthenticator(&c, st).Password(t.Context(), "801", "wrong", "192.0.2.1"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("another process's first failure: %v, want bad credentials", err)
	}
	var rows int
	if err := st.RawDB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM rate_limits").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d rate_limits rows written on the embedded store", rows)
	}
	ho, err := httpOptions(&c, st, &callback.Service{Store: st}, a, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if ho.SharedLimits != nil {
		t.Error("the HTTP API's limits are shared on the embedded store")
	}
}

// openSQLite opens an embedded store in a temporary directory, closed when
// t ends.
func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
