package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/callbackd/callbackd/callback"
)

// txDeadlineStores opens a bare connection pool on each store's database
// (no schema: the transactions below only SELECT), SQLite in a temporary
// file and MariaDB when CALLBACKD_TEST_MYSQL_DSN names one.
func txDeadlineStores(t *testing.T) map[string]*sql.DB {
	t.Helper()
	out := map[string]*sql.DB{}
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	out["SQLite"] = lite
	if dsn := os.Getenv("CALLBACKD_TEST_MYSQL_DSN"); dsn != "" {
		cfg, err := gomysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := gomysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		my := sql.OpenDB(conn)
		t.Cleanup(func() { my.Close() })
		out["MariaDB"] = my
	}
	return out
}

// A transaction whose deadline (the query timeout) passes between two of
// its statements, or before its commit, is rolled back by database/sql,
// which then answers sql.ErrTxDone. That is the database not answering in
// time, as a statement that outlives the deadline is: the caller must see
// callback.ErrUnavailable ("try again later"), not an error it would take
// for a fault of the request.
func TestTxDeadlinePassedBetweenStatements(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for name, raw := range txDeadlineStores(t) {
		t.Run(name, func(t *testing.T) {
			db := New(Config{
				Dialect:      Dialect{Name: "sqlite", IsRetryable: func(error) bool { return false }},
				Writer:       raw,
				QueryTimeout: timeout,
			})
			ctx := t.Context()
			// Past the deadline, and past database/sql's rollback of the
			// transaction that it starts when the deadline ends.
			wait := func() { time.Sleep(timeout + 300*time.Millisecond) }
			var second error
			err := db.tx(ctx, func(tx *sqlx.Tx) error {
				if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
					t.Fatalf("first statement: %v", err)
				}
				wait()
				_, second = tx.ExecContext(ctx, "SELECT 1")
				return second
			})
			if !errors.Is(second, sql.ErrTxDone) {
				t.Fatalf("second statement after the deadline: %v, want database/sql's ErrTxDone (the fault this test is about)", second)
			}
			if !errors.Is(err, callback.ErrUnavailable) {
				t.Errorf("statement after the transaction's deadline: %v, want ErrUnavailable", err)
			}
			err = db.tx(ctx, func(tx *sqlx.Tx) error {
				if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
					t.Fatalf("statement: %v", err)
				}
				wait()
				return nil
			})
			if !errors.Is(err, callback.ErrUnavailable) {
				t.Errorf("commit after the transaction's deadline: %v, want ErrUnavailable", err)
			}
			// The caller giving up is not the database's fault.
			cctx, cancel := context.WithCancel(ctx)
			err = db.tx(cctx, func(tx *sqlx.Tx) error {
				if _, err := tx.ExecContext(ctx, "SELECT 1"); err != nil {
					t.Fatalf("statement: %v", err)
				}
				cancel()
				time.Sleep(100 * time.Millisecond)
				_, err := tx.ExecContext(ctx, "SELECT 1")
				return err
			})
			if err == nil || errors.Is(err, callback.ErrUnavailable) {
				t.Errorf("statement after the caller canceled: %v, want an error that is not ErrUnavailable", err)
			}
		})
	}
}
