package mysql_test

import (
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/storetest"
)

// Two processes on one server: SKIP LOCKED keeps their claims apart.
func TestClaimRace(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	var stores []callback.Store
	for range 2 {
		db, err := mysql.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	n := storetest.RunClaimRace(t, stores[0], stores, 300)
	t.Logf("%d claims lost and run again", n)
}

// Two nodes of a Galera cluster, each written by its own store: row locks
// are not replicated, so both nodes lock and lease the same rows and the
// second to commit fails certification (error 1213). That claimer has lost
// those rows, not failed: no error, no row handed out twice.
func TestGaleraClaimRace(t *testing.T) {
	dbs, dsns := dbtest.Galera(t)
	check := dbtest.GaleraStores(t, []string{dbtest.SyncedDSN(t, dsns[0])})[0]
	n := storetest.RunClaimRace(t, check, []callback.Store{dbs[0], dbs[1]}, 500)
	t.Logf("%d claims lost a certification conflict and were run again", n)
	if n == 0 {
		t.Error("no claim lost a certification conflict: the race was not run")
	}
}
