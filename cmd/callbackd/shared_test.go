package main

import (
	"path/filepath"
	"testing"

	"github.com/callbackd/callbackd/store/sqlite"
)

// limits.shared decides whether the abuse limits are counted in the
// database: on by default with MariaDB/MySQL, off on request, never on the
// embedded store.
func TestSharedLimitsFollowsConfig(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
