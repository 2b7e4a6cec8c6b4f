package mysql_test

import (
	"testing"
	"time"

	"github.com/callbackd/callbackd/store/dbtest"
)

// A transaction begun at the default level, as the store begins its own
// (no SET TRANSACTION before each), reads READ COMMITTED on every
// connection: the level the session starts at.
func TestTransactionsReadCommitted(t *testing.T) {
	st := dbtest.MySQL(t)
	raw := st.RawDB()
	for range 3 {
		tx, err := raw.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var level string
		if err := tx.QueryRowContext(t.Context(), "SELECT @@tx_isolation").Scan(&level); err != nil {
			t.Fatal(err)
		}
		// A row inserted by another connection after this transaction
		// began is seen: READ COMMITTED, not REPEATABLE READ's snapshot.
		var before, after int
		if err := tx.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM accounts").Scan(&before); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(t.Context(), "INSERT INTO accounts (username) VALUES (?)", "rc"+time.Now().Format("150405.000000000")); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM accounts").Scan(&after); err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		if level != "READ-COMMITTED" || after != before+1 {
			t.Fatalf("isolation %s, rows %d then %d: want READ-COMMITTED and the new row seen", level, before, after)
		}
	}
}
