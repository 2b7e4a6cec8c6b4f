package callback_test

import (
	"database/sql"
	"testing"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/dbtest"
)

// The dispatcher runs against both real stores: no SQL is mocked.
func TestDispatcherSQLite(t *testing.T) {
	testDispatcher(t, func(t *testing.T) callback.Store { return dbtest.SQLite(t) })
}

func TestDispatcherMariaDB(t *testing.T) {
	dbtest.MySQLDSN(t) // skips (or fails under CI) without a server
	testDispatcher(t, func(t *testing.T) callback.Store { return dbtest.MySQL(t) })
}

func rawDB(t *testing.T, st callback.Store) *sql.DB {
	t.Helper()
	r, ok := st.(interface{ RawDB() *sql.DB })
	if !ok {
		t.Fatalf("%T has no RawDB", st)
	}
	return r.RawDB()
}
