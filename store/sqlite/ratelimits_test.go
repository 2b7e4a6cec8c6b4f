package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/store/storetest"
)

// Two processes on one file share the abuse limits' buckets.
func TestSharedLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	var dbs []*sqlite.DB
	for range 2 {
		db, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	storetest.RunSharedLimits(t, dbs[0], dbs[1])
}
