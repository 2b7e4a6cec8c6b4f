package mysql_test

import (
	"fmt"

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

// BenchmarkGaleraClaims drains 10,000 due requests with 2 and 4 callbackd
// nodes on a 3-node Galera cluster: all writing to node 1 (single writer,
// as through a proxy) or each to its own node in turn (multi-writer).
func BenchmarkGaleraClaims(b *testing.B) {
	for _, topo := range []string{"SingleWriter", "MultiWriter"} {
		for _, nodes := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s/%dnodes", topo, nodes), func(b *testing.B) {
				dsns := dbtest.GaleraDSNs(b)
				dbtest.GaleraStores(b, dsns[:1]) // migrates
				var stores []callback.Store
				for i := range nodes {
					dsn := dsns[0]
					if topo == "MultiWriter" {
						dsn = dsns[i%len(dsns)]
					}
					stores = append(stores, dbtest.GaleraStores(b, []string{dsn})[0])
				}
				storetest.BenchClaimsNodes(b, stores)
			})
		}
	}
}
