// Package dbtest opens fresh, empty stores for tests: a SQLite file in the
// test's temporary directory, or a database of its own on the MariaDB/MySQL
// server named by CALLBACKD_TEST_MYSQL_DSN (scripts/mariadb-test.sh starts a
// private server and sets it). Each store is closed, and each MariaDB
// database dropped, when the test ends, so tests can run in parallel.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/callbackd/callbackd/callback"

	"github.com/callbackd/callbackd/store/mysql"
	"github.com/callbackd/callbackd/store/sqlite"
)

// EnvMySQLDSN names the variable holding the DSN of a MariaDB/MySQL
// database whose user may create and drop databases named callbackd_*.
const EnvMySQLDSN = "CALLBACKD_TEST_MYSQL_DSN"

// PINKey is the PIN key (auth.pin_key) of every store SQLite and MySQL
// open, so tests can give accounts PINs and look them up.
var PINKey = func() *callback.PINKey {
	k, err := callback.NewPINKey([]byte("dbtest PIN key, at least 32 bytes long"))
	if err != nil {
		panic(err)
	}
	return k
}()

// SQLite opens a store on a new file in tb's temporary directory.
func SQLite(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "callbackd.db"))
	if err != nil {
		tb.Fatalf("open SQLite store: %v", err)
	}
	db.SetPINKey(PINKey)
	tb.Cleanup(func() { db.Close() })
	return db
}

// MySQL opens a store on a new database (see MySQLDSN).
func MySQL(tb testing.TB) *mysql.DB {
	tb.Helper()
	db, err := mysql.Open(tb.Context(), MySQLDSN(tb))
	if err != nil {
		tb.Fatalf("open MySQL store: %v", err)
	}
	db.SetPINKey(PINKey)
	tb.Cleanup(func() { db.Close() })
	return db
}

// MySQLDSN creates an empty database for tb on the server of
// CALLBACKD_TEST_MYSQL_DSN, drops it when tb ends, and returns its DSN.
// Without the variable the test is skipped, except under CI=true, where a
// missing MariaDB means the MariaDB half of the suite would silently not
// run, and fails the test.
func MySQLDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvMySQLDSN)
	if base == "" {
		const why = EnvMySQLDSN + " is not set: no MariaDB/MySQL to test against (make test starts a private one)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(why)
		}
		tb.Skip(why)
	}
	cfg, err := gomysql.ParseDSN(base)
	if err != nil {
		tb.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	name := "callbackd_t_" + strings.ToLower(rand.Text())
	admin := adminDB(tb, cfg)
	defer admin.Close()
	if _, err := admin.ExecContext(tb.Context(), "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		// tb's context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := adminDB(tb, cfg)
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+name); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg = cfg.Clone()
	cfg.DBName = name
	return cfg.FormatDSN()
}

func adminDB(tb testing.TB, cfg *gomysql.Config) *sql.DB {
	tb.Helper()
	conn, err := gomysql.NewConnector(cfg)
	if err != nil {
		tb.Fatalf("%s: %v", EnvMySQLDSN, err)
	}
	return sql.OpenDB(conn)
}
