package mysql_test

import (
	"testing"

	"github.com/callbackd/callbackd/store/dbtest"
	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/storetest"
)

// Two nodes on one database share the abuse limits' buckets.
func TestSharedLimits(t *testing.T) {
	dsn := dbtest.MySQLDSN(t)
	var dbs []*mysql.DB
	for range 2 {
		db, err := mysql.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	storetest.RunSharedLimits(t, dbs[0], dbs[1])
}

// Two Galera nodes, each written by its own store.
func TestGaleraSharedLimits(t *testing.T) {
	dbs, _ := dbtest.Galera(t)
	storetest.RunSharedLimits(t, dbs[0], dbs[1])
}
