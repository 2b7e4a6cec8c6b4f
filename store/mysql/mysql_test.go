package mysql_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/callbackd/callbackd/admin"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/storetest"
)

func TestWebhooks(t *testing.T) {
	storetest.RunWebhooks(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

// MySQL has no INSERT ... RETURNING: the store inserts and reads the row
// back in a transaction there, and must fill in the same request.
func TestConformanceWithoutReturning(t *testing.T) {
	storetest.Run(t, func(t *testing.T) callback.Store {
		db, err := mysql.OpenAsMySQL(t.Context(), dbtest.MySQLDSN(t))
		if err != nil {
			t.Fatalf("open MySQL store: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Several nodes starting at once against an empty database migrate it
// once; the others wait for the lock and find it up to date.
func TestConcurrentOpen(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			db, err := mysql.Open(t.Context(), dsn)
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
}

func TestOpenErrors(t *testing.T) {
	for _, dsn := range []string{"", "not a dsn", "user:pw@tcp(127.0.0.1:1)/"} {
		if db, err := mysql.Open(t.Context(), dsn); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

func BenchmarkClaims(b *testing.B) {
	storetest.BenchClaims(b, func(b *testing.B) callback.Store { return dbtest.MySQL(b) })
}

func TestAdminConformance(t *testing.T) {
	storetest.RunAdmin(t, func(t *testing.T) admin.Store { return dbtest.MySQL(t) })
}

func BenchmarkExportCDRs(b *testing.B) {
	storetest.BenchExportCDRs(b, func(b *testing.B) admin.Store { return dbtest.MySQL(b) })
}

func BenchmarkAdminLists(b *testing.B) {
	storetest.BenchAdminLists(b, func(b *testing.B) admin.Store { return dbtest.MySQL(b) })
}

func BenchmarkListDeliveries(b *testing.B) {
	storetest.BenchListDeliveries(b, func(b *testing.B) admin.Store { return dbtest.MySQL(b) })
}
