package sqlite_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/sqlite"
	"github.com/callbackd/callbackd/store/storetest"
)

func TestWebhooks(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) callback.Store {
		db, err := sqlite.Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Several processes opening one file at once migrate it once; the others
// find it up to date.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callbackd.db")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			db, err := sqlite.Open(t.Context(), path)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = db.Close()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, path := range []string{"", "a?b", filepath.Join(t.TempDir(), "missing", "dir", "callbackd.db")} {
		if db, err := sqlite.Open(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func BenchmarkClaims(b *testing.B) {
	storetest.BenchClaims(b, func(b *testing.B) callback.Store { return dbtest.SQLite(b) })
}

func TestAdminConformance(t *testing.T) {
	storetest.RunAdmin(t, func(t *testing.T) admin.Store { return dbtest.SQLite(t) })
}

func BenchmarkExportCDRs(b *testing.B) {
	storetest.BenchExportCDRs(b, func(b *testing.B) admin.Store { return dbtest.SQLite(b) })
}

func BenchmarkAdminLists(b *testing.B) {
	storetest.BenchAdminLists(b, func(b *testing.B) admin.Store { return dbtest.SQLite(b) })
}

func BenchmarkListDeliveries(b *testing.B) {
	storetest.BenchListDeliveries(b, func(b *testing.B) admin.Store { return dbtest.SQLite(b) })
}
