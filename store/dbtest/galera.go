package dbtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/callbackd/callbackd/store/mysql"
)

// EnvGaleraDSNs names the variable holding the DSNs of the nodes of a
// MariaDB Galera cluster, comma-separated, the first being the server of
// CALLBACKD_TEST_MYSQL_DSN (scripts/galera-test.sh sets both).
const EnvGaleraDSNs = "CALLBACKD_TEST_GALERA_DSNS"

// EnvGaleraPIDs names the variable holding the process ids of the
// cluster's mariadbd, in the order of CALLBACKD_TEST_GALERA_DSNS, for tests
// that kill a node.
const EnvGaleraPIDs = "CALLBACKD_TEST_GALERA_PIDS"

// GaleraDSNs creates an empty database for tb on the cluster of
// CALLBACKD_TEST_GALERA_DSNS (see MySQLDSN: it is dropped when tb ends)
// and returns its DSN on each node. Without the variable the test is
// skipped: the cluster runs only under make test-galera.
func GaleraDSNs(tb testing.TB) []string {
	tb.Helper()
	list := os.Getenv(EnvGaleraDSNs)
	if list == "" {
		tb.Skip(EnvGaleraDSNs + " is not set: no Galera cluster to test against (make test-galera starts one)")
	}
	first, err := gomysql.ParseDSN(MySQLDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, dsn := range strings.Split(list, ",") {
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			tb.Fatalf("%s: %v", EnvGaleraDSNs, err)
		}
		waitForDatabase(tb, cfg, first.DBName)
		cfg.DBName = first.DBName
		out = append(out, cfg.FormatDSN())
	}
	return out
}

// waitForDatabase waits until the node of cfg has the database name: the
// other nodes apply CREATE DATABASE in the cluster's order, but after the
// node that ran it has returned.
func waitForDatabase(tb testing.TB, cfg *gomysql.Config, name string) {
	tb.Helper()
	cfg = cfg.Clone()
	cfg.DBName = ""
	db := adminDB(tb, cfg)
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRowContext(tb.Context(), "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("database %s not on %s after 30 s: %v", name, cfg.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GaleraPIDs returns the process ids of the cluster's nodes.
func GaleraPIDs(tb testing.TB) []int {
	tb.Helper()
	var out []int
	for _, s := range strings.Split(os.Getenv(EnvGaleraPIDs), ",") {
		pid, err := strconv.Atoi(s)
		if err != nil {
			tb.Skipf("%s: %q: %v", EnvGaleraPIDs, os.Getenv(EnvGaleraPIDs), err)
		}
		out = append(out, pid)
	}
	return out
}

// Galera opens a store on each node of the cluster, on one new database,
// and returns them with their DSNs.
func Galera(tb testing.TB) ([]*mysql.DB, []string) {
	tb.Helper()
	dsns := GaleraDSNs(tb)
	return GaleraStores(tb, dsns), dsns
}

// GaleraStores opens a store on each of dsns. The first open migrates the
// schema; the others find it up to date (they are opened one after the
// other: the migration lock is a lock of one node, which Galera does not
// replicate).
func GaleraStores(tb testing.TB, dsns []string) []*mysql.DB {
	tb.Helper()
	var out []*mysql.DB
	for _, dsn := range dsns {
		db, err := mysql.Open(tb.Context(), dsn)
		if err != nil {
			tb.Fatalf("open MySQL store on a Galera node: %v", err)
		}
		db.SetPINKey(PINKey)
		tb.Cleanup(func() { db.Close() })
		out = append(out, db)
	}
	return out
}

// SyncedDSN returns dsn with wsrep_sync_wait = 1: each read on that
// connection first waits until the node has applied everything the
// cluster committed before it, so a test reads what other nodes wrote.
func SyncedDSN(tb testing.TB, dsn string) string {
	tb.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["wsrep_sync_wait"] = "1"
	return cfg.FormatDSN()
}
