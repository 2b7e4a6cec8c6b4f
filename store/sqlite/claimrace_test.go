package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/store/storetest"
)

// Two processes on one file: the write lock keeps their claims apart.
func TestClaimRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	var stores []callback.Store
	for range 2 {
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	storetest.RunClaimRace(t, stores[0], stores, 300)
}
